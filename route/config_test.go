package route

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// Every invalid configuration wraps os.ErrInvalid, from Validate and from
// the constructors alike, and is no *Error (kept for kernel operations).
func TestConfigValidate(t *testing.T) {
	require.NoError(t, (*ViewConfig)(nil).Validate(), "nil: the defaults")
	require.NoError(t, (&ViewConfig{Tables: []uint32{TableMain, 100}, Coalesce: time.Millisecond}).Validate())
	for _, c := range []*ViewConfig{{ReadBuffer: -1}, {Coalesce: -time.Millisecond}, {Tables: []uint32{0}}, {NetNS: -1}} {
		err := c.Validate()
		require.ErrorIs(t, err, os.ErrInvalid, "%+v", c)
		var re *Error
		require.False(t, errors.As(err, &re), "%v", err)
		_, err = OpenView(t.Context(), c)
		require.ErrorIs(t, err, os.ErrInvalid)
	}

	pfx := []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}
	ok := &SteererConfig{Prefixes: pfx, Interfaces: []string{"eth2"}}
	require.NoError(t, ok.Validate())
	c, err := ok.withDefaults()
	require.NoError(t, err)
	require.Equal(t, netpulse.Markers{}.WithDefaults(), c.Markers, "zero markers: the defaults")
	require.Equal(t, Protocol(241), c.protocol())
	require.Equal(t, 64, c.Buffer)
	mine := netpulse.Markers{RouteProtocol: 200, RouteMetric: 5, SysctlTable: 1000}
	c, err = (&SteererConfig{Prefixes: pfx, Interfaces: []string{"eth2"}, Markers: mine}).withDefaults()
	require.NoError(t, err)
	require.Equal(t, Protocol(200), c.protocol())
	require.EqualValues(t, 5, c.Markers.RouteMetric)
	require.EqualValues(t, 1000, c.Markers.SysctlTable)
	for _, c := range []*SteererConfig{
		nil,
		{Prefixes: pfx},
		{Interfaces: []string{"eth2"}},
		{Prefixes: []netip.Prefix{{}}, Interfaces: []string{"eth2"}},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.1/32")}, Interfaces: []string{"eth2"}},
		{Prefixes: pfx, Interfaces: []string{"a/b"}},
		{Prefixes: pfx, Interfaces: []string{"eth2"}, Markers: netpulse.Markers{RouteProtocol: uint8(ProtocolStatic)}},
		{Prefixes: pfx, Interfaces: []string{"eth2"}, Buffer: -1},
		{Prefixes: pfx, Interfaces: []string{"eth2"}, NetNS: -1},
		{Prefixes: pfx, Interfaces: []string{"eth2"}, Coalesce: -time.Millisecond},
	} {
		err := c.Validate()
		require.ErrorIs(t, err, os.ErrInvalid, "%+v", c)
		var re *Error
		require.False(t, errors.As(err, &re), "%v", err)
		_, err = OpenSteerer(t.Context(), c)
		require.ErrorIs(t, err, os.ErrInvalid)
	}
}
