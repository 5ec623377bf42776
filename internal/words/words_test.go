package words

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

type color uint8

type size int

var colorNames = []string{"red", "green"}

func TestWords(t *testing.T) {
	require.Equal(t, "green", Name(colorNames, color(1), "Color"))
	require.Equal(t, "Color(7)", Name(colorNames, color(7), "Color"))
	require.Equal(t, "Size(-1)", Name(colorNames, size(-1), "Size"))

	b, err := Marshal(colorNames, color(0), "pkg", "Color")
	require.NoError(t, err)
	require.Equal(t, "red", string(b))
	_, err = Marshal(colorNames, color(7), "pkg", "Color")
	require.ErrorIs(t, err, os.ErrInvalid)
	require.EqualError(t, err, "pkg: invalid Color 7: invalid argument")
	_, err = Marshal(colorNames, size(-1), "pkg", "Size")
	require.ErrorIs(t, err, os.ErrInvalid)

	c := color(0)
	require.NoError(t, Unmarshal(colorNames, []byte("green"), &c, "pkg", "Color"))
	require.Equal(t, color(1), c)
	err = Unmarshal(colorNames, []byte("blue"), &c, "pkg", "Color")
	require.EqualError(t, err, `pkg: unknown Color "blue": invalid argument`)
	require.ErrorIs(t, err, os.ErrInvalid)
	require.Equal(t, color(1), c, "left alone on error")
}
