package linkmon

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseLink(t *testing.T) {
	b := appendGetLink(nil, 7, 3, false)
	typ, flags, seq, p, rest, err := nextMsg(b)
	require.NoError(t, err)
	require.Equal(t, uint16(rtmGetLink), typ)
	require.Equal(t, uint16(nlmFRequest), flags)
	require.Equal(t, uint32(7), seq)
	require.Empty(t, rest)
	require.Len(t, p, ifinfomsgLen+8)

	var m linkMsg
	raw := linkTestBytes(3, "eth2", true)
	typ, _, _, p, _, err = nextMsg(raw)
	require.NoError(t, err)
	require.NoError(t, parseLink(typ, p, &m))
	require.Equal(t, 3, m.index)
	require.Equal(t, "eth2", string(m.name))
	require.Equal(t, 1500, m.mtu)
	require.Equal(t, uint8(OperStateUp), m.oper)
	require.Equal(t, 4, m.iflink)
	require.False(t, m.nicLike())
	require.NotZero(t, m.flags&iffLowerUp)

	require.Error(t, parseLink(rtmNewLink, p[:8], &m))
	_, _, _, _, _, err = nextMsg(raw[:10])
	require.Error(t, err)
	require.Equal(t, int32(19), nlError([]byte{0xed, 0xff, 0xff, 0xff}))
}

func FuzzParseLink(f *testing.F) {
	f.Add(linkTestBytes(3, "eth2", true))
	f.Add(appendGetLink(nil, 1, 0, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m linkMsg
		for len(b) > 0 {
			typ, _, _, p, rest, err := nextMsg(b)
			if err != nil {
				return
			}
			if len(rest) >= len(b) {
				t.Fatal("no progress")
			}
			b = rest
			if parseLink(typ, p, &m) == nil && m.index <= 0 {
				t.Fatal("accepted a bad index")
			}
		}
	})
}
