package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-primary", "eth3", "-standby", "eth2,eth4", "-address", "198.18.10.50/24, 2001:db8::50/64",
		"-target", "eth3=198.18.10.1", "-target", "eth2=198.18.10.1/arp", "-interval", "10ms", "-fail-after", "3",
		"-failback", "manual", "-hold-down", "2s", "-json", "-netns", "/var/run/netns/x"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "eth3", o.primary)
	require.Equal(t, []string{"eth2", "eth4"}, o.standbys)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24"), netip.MustParsePrefix("2001:db8::50/64")}, o.addresses)
	require.Len(t, o.probes.Targets, 2)
	require.Equal(t, 10*time.Millisecond, o.probes.Targets[1].Interval)
	require.Equal(t, failover.FailbackManual, o.failback)
	require.Equal(t, 2*time.Second, o.holdDown)
	require.True(t, o.json)
	for _, args := range [][]string{
		{"-standby", "eth2", "-address", "198.18.10.50/24"},
		{"-primary", "eth3", "-address", "198.18.10.50/24"},
		{"-primary", "eth3", "-standby", "eth2"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "-failback", "sometimes"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "-target", "eth3"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "extra"},
		{"-primary", "eth3", "-primary", "eth4", "-standby", "eth2", "-address", "198.18.10.50/24"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "-interval", "1s", "-interval", "2s"},
		{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "-json", "-json"},
		{"-primary", "eth3", "-standby", "eth2,eth3", "-address", "198.18.10.50/24"},
		{"-primary", "eth3", "-standby", "eth2", "-standby", "eth2", "-address", "198.18.10.50/24"},
	} {
		_, err := parseFlags(args, io.Discard)
		require.Error(t, err, "%v", args)
	}
}

// TestHoldDownZero: -hold-down 0 is a failback without hold-down, a
// group the engine accepts (it refuses a negative HoldDown).
func TestHoldDownZero(t *testing.T) {
	o, err := parseFlags([]string{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24", "-hold-down", "0"}, io.Discard)
	require.NoError(t, err)
	g := o.group("eth3")
	require.True(t, g.NoHoldDown)
	require.NoError(t, (&failover.Config{Groups: []failover.GroupConfig{g}}).Validate())
	o.holdDown = 2 * time.Second
	require.NoError(t, (&failover.Config{Groups: []failover.GroupConfig{o.group("eth3")}}).Validate())
}

// TestRepeatedListFlags: -standby and -address are repeatable lists; a
// flag that takes one value refuses a second one, naming it.
func TestRepeatedListFlags(t *testing.T) {
	o, err := parseFlags([]string{"-primary", "eth3", "-standby", "eth2", "-standby", "eth4,eth5",
		"-address", "198.18.10.50/24", "-address", "198.18.10.51/24,2001:db8::50/64"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"eth2", "eth4", "eth5"}, o.standbys)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24"), netip.MustParsePrefix("198.18.10.51/24"),
		netip.MustParsePrefix("2001:db8::50/64")}, o.addresses)
	var msg bytes.Buffer
	_, err = parseFlags([]string{"-primary", "eth3", "-primary", "eth4", "-standby", "eth2", "-address", "198.18.10.50/24"}, &msg)
	require.Error(t, err)
	require.Contains(t, err.Error(), "flag -primary given 2 times")
}

func TestJSONLines(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 0, 0, 120000000, time.UTC)
	var buf bytes.Buffer
	o := newOutput(&buf, io.Discard, true)
	o.event(&failover.HealthEvent{Time: at, Interface: netpulse.Interface{Index: 3, Name: "eth3"},
		From: netpulse.HealthUp, To: netpulse.HealthLinkDown, Failure: netpulse.FailureLinkIP})
	o.event(&failover.SwitchEvent{Time: at, Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24"), netip.MustParsePrefix("2001:db8::50/64")},
		From: netpulse.Interface{Name: "eth3"}, To: netpulse.Interface{Name: "eth2"}, Reason: netpulse.ReasonIPDown})
	o.event(&failover.SwitchEvent{Time: at, Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24")},
		To: netpulse.Interface{Name: "eth3"}, Reason: netpulse.ReasonInitial}) // not on stdout
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, `{"time":"2026-11-22T05:00:00.120000000Z","event":"health","interface":"eth3","state":"link-down","failure":"link+ip"}`, lines[0])
	require.Equal(t, `{"time":"2026-11-22T05:00:00.120000000Z","event":"switch","address":"198.18.10.50/24","from":"eth3","to":"eth2","reason":"ip-down"}`, lines[1])
	require.Contains(t, lines[2], `"address":"2001:db8::50/64"`)
}

// TestFatal: a privilege lost while running, or an address held elsewhere,
// ends failoverd (the daemon restores and exits 1); other errors, and
// transient ones, do not.
func TestFatal(t *testing.T) {
	eth3 := netpulse.Interface{Name: "eth3"}
	require.ErrorContains(t, fatal(&failover.ActionErrorEvent{Op: "add", Interface: eth3, Err: os.ErrPermission, Permanent: true}),
		"failoverd needs CAP_NET_ADMIN and CAP_NET_RAW")
	ce := &failover.ConflictError{Address: netip.MustParsePrefix("198.18.10.50/24")}
	require.ErrorContains(t, fatal(&failover.ActionErrorEvent{Op: "add", Interface: eth3, Err: ce, Permanent: true}), "not taking 198.18.10.50/24")
	require.NoError(t, fatal(&failover.ActionErrorEvent{Op: "add", Interface: eth3, Err: failover.ErrMemberMissing, Permanent: true}))
	require.NoError(t, fatal(&failover.ActionErrorEvent{Op: "add", Interface: eth3, Err: os.ErrPermission}), "not permanent")
	require.NoError(t, fatal(&failover.HealthEvent{}))
}
