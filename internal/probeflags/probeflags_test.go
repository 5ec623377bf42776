package probeflags_test

import (
	"flag"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/probeflags"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func parse(args ...string) (*probeflags.Flags, error) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := probeflags.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f, f.Check()
}

func TestFlags(t *testing.T) {
	f, err := parse("-target", "eth3=198.18.10.1", "-target", "eth2=2001:db8::1", "-target", "eth2=198.18.10.1/arp",
		"-interval", "10ms", "-fail-after", "4", "-recover-after", "1")
	require.NoError(t, err)
	require.Len(t, f.Targets, 3)
	require.Equal(t, ipmon.Target{Addr: netip.MustParseAddr("198.18.10.1"), Interface: "eth3",
		Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond, FailAfter: 4, RecoverAfter: 1}, f.Targets[0])
	require.Equal(t, "eth2", f.Targets[1].Interface)
	require.Equal(t, ipmon.ProbeARP, f.Targets[2].Kind)
	cfg := f.Config(7)
	require.Equal(t, 7, cfg.NetNS)
	require.Equal(t, 10*time.Millisecond, cfg.Timeout)

	f, err = parse()
	require.NoError(t, err)
	require.Empty(t, f.Targets)
	require.Equal(t, ipmon.DefaultInterval, f.Timeout, "timeout defaults to the interval")
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-target", "198.18.10.1"},
		{"-target", "eth3="},
		{"-target", "eth3=nonsense"},
		{"-interval", "0s"},
		{"-timeout", "-1s"},
		{"-fail-after", "0"},
		{"-recover-after", "0"},
	} {
		_, err := parse(args...)
		require.Error(t, err, "%v", args)
	}
}

// TestParseRefusesRepeats (#11.8): a flag that keeps one value refuses a
// repeat instead of keeping the last silently; -target, a list, repeats.
func TestParseRefusesRepeats(t *testing.T) {
	newSet := func() (*flag.FlagSet, *probeflags.Flags, *bool, *string) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := probeflags.Register(fs)
		return fs, f, fs.Bool("json", false, ""), fs.String("netns", "", "")
	}
	for _, args := range [][]string{
		{"-interval", "10ms", "-interval", "20ms"},
		{"-fail-after", "3", "-fail-after=4"},
		{"-json", "-json"},
		{"-json", "-json=false"},
		{"-netns", "/a", "--netns", "/b"},
		{"-timeout", "1s", "-target", "eth3=198.18.10.1", "-timeout", "1s"},
	} {
		fs, _, _, _ := newSet()
		err := probeflags.Parse(fs, args)
		require.Error(t, err, "%q", args)
		require.Contains(t, err.Error(), "given 2 times", "%q", args)
	}
	fs, f, js, ns := newSet()
	require.NoError(t, probeflags.Parse(fs, []string{"-json", "-target", "eth3=198.18.10.1", "-netns", "/a",
		"-target", "eth2=198.18.10.1", "-interval", "10ms", "rest", "-interval", "20ms"}))
	require.True(t, *js)
	require.Equal(t, "/a", *ns)
	require.Len(t, f.Targets, 2, "-target is a list")
	require.Equal(t, 10*time.Millisecond, f.Interval, "arguments after the first non-flag are not flags")
	require.Equal(t, []string{"rest", "-interval", "20ms"}, fs.Args())

	// What fs.Parse refuses is still refused, with its own error.
	fs, _, _, _ = newSet()
	err := probeflags.Parse(fs, []string{"-nosuch"})
	require.ErrorContains(t, err, "flag provided but not defined")
	fs, _, _, _ = newSet()
	require.Error(t, probeflags.Parse(fs, []string{"-interval", "soon"}))
}

// TestList: -i a,b -i c is a, b, c; blanks and empty words are dropped.
func TestList(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l probeflags.List
	fs.Var(&l, "i", "")
	require.NoError(t, probeflags.Parse(fs, []string{"-i", " eth3, eth2,", "-i", "", "-i", "eth5"}))
	require.Equal(t, probeflags.List{"eth3", "eth2", "eth5"}, l)
	require.Equal(t, "eth3,eth2,eth5", l.String())
}
