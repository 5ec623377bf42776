//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// lines is an io.Writer delivering complete lines on a channel.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 1024)} }

func (l *lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		l.ch <- string(l.buf.Next(i + 1))
	}
}

// waitFor waits for a line containing sub.
func (l *lines) waitFor(t *testing.T, sub string) {
	t.Helper()
	l.wait(t, strconv.Quote(sub), func(s string) bool { return strings.Contains(s, sub) })
}

func (l *lines) wait(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-l.ch:
			if match(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no line with %s within 10s", what)
		}
	}
}

type labNodes struct{ node, sw, peer *netlab.NS }

// buildLab: node eth3 (primary, with its address) and eth2 (standby, with
// its address) on one bridge with a peer, in a named lab so that -netns can
// find the node.
func buildLab(t *testing.T) labNodes {
	netlab.Require(t)
	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lab.Close()) })
	p, err := lab.Pair(netlab.PairOptions{Node: "node", Peer: "sw", Bridge: "br0", StrictARP: true,
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24")}},
			{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24")}},
		},
		ServerNS: "peer", Server: &netlab.PairLink{Name: "eth0", Peer: "pp", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.200/24")}},
	})
	require.NoError(t, err)
	return labNodes{node: p.Node, sw: p.Peer, peer: p.Server}
}

func labArgs(n labNodes) []string {
	return []string{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24",
		"-target", "eth3=198.18.10.200", "-target", "eth2=198.18.10.200",
		"-interval", "20ms", "-timeout", "100ms", "-hold-down", "200ms", "-json", "-netns", n.node.Path()}
}

// TestRunInLab runs failoverd in-process on the lab: the address is placed
// on eth3, moves to eth2 on carrier loss and on eth3's IP-level failure,
// the JSON lines say so, SIGUSR1 prints the table, and on exit the address
// stays where it is.
func TestRunInLab(t *testing.T) {
	n := buildLab(t)
	o, err := parseFlags(labArgs(n), io.Discard)
	require.NoError(t, err)
	stdout, stderr := newLines(), newLines()
	ctx, cancel := context.WithCancel(context.Background())
	status := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, newOutput(stdout, stderr, true), status) }()
	var runErr error
	var once sync.Once
	stop := func() error { once.Do(func() { cancel(); runErr = <-done }); return runErr }
	defer stop()

	stderr.wait(t, "placement", func(s string) bool { return strings.Contains(s, "placed 198.18.10.50/24 on eth3") })
	parse := func(s string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m), "%q", s)
		return m
	}
	stdout.wait(t, "eth3 up", func(s string) bool {
		m := parse(s)
		return m["event"] == "health" && m["interface"] == "eth3" && m["state"] == "up"
	})

	// The health change comes first, then the move.
	require.NoError(t, n.sw.SetDown("p3"))
	h := parse(stdout.wait(t, "eth3 link-down", func(s string) bool { return strings.Contains(s, `"link-down","failure"`) }))
	require.Equal(t, "link+ip", h["failure"])
	sw := parse(stdout.wait(t, "switch", func(s string) bool { return strings.Contains(s, `"switch"`) }))
	require.Equal(t, map[string]any{"time": sw["time"], "event": "switch", "address": "198.18.10.50/24", "from": "eth3", "to": "eth2", "reason": "link-down"}, sw)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`, sw["time"])

	require.NoError(t, n.sw.SetUp("p3"))
	fb := parse(stdout.wait(t, "failback", func(s string) bool { return strings.Contains(s, `"failback"`) }))
	require.Equal(t, "eth2", fb["from"])
	require.Equal(t, "eth3", fb["to"])

	require.NoError(t, n.sw.SetMaster("p3", ""))
	stdout.wait(t, "ip_only", func(s string) bool { return strings.Contains(s, `"state":"ip-down","failure":"ip_only"`) })
	ipd := parse(stdout.wait(t, "ip-down switch", func(s string) bool { return strings.Contains(s, `"reason":"ip-down"`) }))
	require.Equal(t, "eth2", ipd["to"])

	status <- syscall.SIGUSR1
	stderr.wait(t, "status table", func(s string) bool { return strings.Contains(s, "NETWORK_INTERFACE") })

	require.NoError(t, stop())
	stderr.wait(t, "leaving", func(s string) bool { return strings.Contains(s, "leaving 198.18.10.50/24 on eth2") })
	_, err = n.peer.Ping("", netip.MustParseAddr("198.18.10.50"), 2*time.Second)
	require.NoError(t, err, "the address stays on eth2 after exit")
}

// TestBinary runs the built program: a clear error and exit 1 for an
// unknown interface; SIGUSR1 prints the table; SIGTERM exits 0 and says
// where the address stays.
func TestBinary(t *testing.T) {
	n := buildLab(t)
	bin := buildBinary(t)

	args := labArgs(n)
	bad := append([]string(nil), args...)
	bad[3] = "eth7"
	cmd := exec.Command(bin, bad...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), "eth7")

	cmd = exec.Command(bin, args[:len(args)-3]...) // text output
	cmd.Args = append(cmd.Args, "-netns", n.node.Path())
	stdout := newLines()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	stdout.waitFor(t, "eth3 health unknown -> up")
	require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
	stdout.waitFor(t, "NETWORK_INTERFACE")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "exit 0 on SIGTERM; stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "leaving 198.18.10.50/24 on eth3")
}
