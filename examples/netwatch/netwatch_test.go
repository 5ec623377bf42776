//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var jsonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

func TestLinkJSON(t *testing.T) {
	ev := &linkmon.LinkEvent{
		Time: time.Date(2026, 11, 22, 5, 0, 0, 120000000, time.UTC),
		State: linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Oper: linkmon.OperStateLowerLayerDown,
			HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}},
	}
	var buf bytes.Buffer
	newOutput(&buf, true).link(ev)
	b := buf.Bytes()
	require.Equal(t, `{"time":"2026-11-22T05:00:00.120000000Z","event":"link","interface":"eth2","index":3,"carrier":false,"admin_up":true,"oper":"lowerlayerdown"}`+"\n", string(b))
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Len(t, m, 7)
}

func TestLinkLine(t *testing.T) {
	up := linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperStateUp}
	down := up
	down.Carrier, down.Oper = false, linkmon.OperStateLowerLayerDown
	at := time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC)
	require.Equal(t, "2026-11-22T05:00:00.000000001Z eth2 carrier down (admin up, oper lowerlayerdown, index 3)",
		linkLine(&linkmon.LinkEvent{Time: at, State: down, Previous: up}))
	admin := down
	admin.AdminUp, admin.Oper = false, linkmon.OperStateDown
	require.Contains(t, linkLine(&linkmon.LinkEvent{Time: at, State: admin, Previous: down}), "eth2 admin down")
	gone := admin
	gone.Present = false
	require.Contains(t, linkLine(&linkmon.LinkEvent{Time: at, State: gone, Previous: admin}), "eth2 removed")
	require.Contains(t, linkLine(&linkmon.LinkEvent{Time: at, State: up}), "eth2 appeared, carrier up")

	var buf bytes.Buffer
	o := newOutput(&buf, false)
	o.table([]linkmon.State{{Index: 1, Name: "lo", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperStateUnknown},
		{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperStateUp, Detail: linkmon.Detail{SpeedMbps: 10000}}})
	require.Equal(t, "NAME  INDEX  CARRIER  ADMIN  OPER     SPEED\nlo    1      up       up     unknown  -\neth2  3      up       up     up       10Gb/s\n", buf.String())
}

func TestPrintable(t *testing.T) {
	up := linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperStateUp}
	detail := up
	detail.Detail.SpeedMbps = 1000
	require.False(t, printable(&linkmon.LinkEvent{State: detail, Previous: up}), "ethtool detail alone is not printed")
	down := up
	down.Carrier = false
	require.True(t, printable(&linkmon.LinkEvent{State: down, Previous: up}))
	require.True(t, printable(&linkmon.LinkEvent{State: up}), "a new link is printed")
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-i", "eth2, eth3", "-json", "-netns", "/var/run/netns/x"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"eth2", "eth3"}, o.ifaces)
	require.True(t, o.json)
	require.Equal(t, "/var/run/netns/x", o.netns)
	require.Empty(t, o.probes.Targets)
	require.False(t, o.discover)

	o, err = parseFlags([]string{"-i", "eth2", "-target", "eth2=198.18.10.1", "-target", "eth3=2001:db8::1",
		"-interval", "20ms", "-fail-after", "2", "-discover"}, io.Discard)
	require.NoError(t, err)
	require.Len(t, o.probes.Targets, 2)
	require.Equal(t, 20*time.Millisecond, o.probes.Targets[1].Timeout, "timeout defaults to the interval")
	require.Equal(t, 2, o.probes.Targets[0].FailAfter)
	require.True(t, o.discover)

	_, err = parseFlags([]string{"-discover"}, io.Discard)
	require.ErrorContains(t, err, "-discover needs -i")
	_, err = parseFlags([]string{"-target", "198.18.10.1"}, io.Discard)
	require.Error(t, err)
	_, err = parseFlags([]string{"extra"}, io.Discard)
	require.Error(t, err)
	_, err = parseFlags([]string{"-nope"}, io.Discard)
	require.Error(t, err)

	// #11.8: -i is repeatable (the lists add up); a flag that takes one
	// value refuses a repeat instead of keeping the last.
	o, err = parseFlags([]string{"-i", "eth2", "-i", "eth3,eth4", "-target", "eth2=198.18.10.1", "-target", "eth3=198.18.10.1"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"eth2", "eth3", "eth4"}, o.ifaces)
	require.Len(t, o.probes.Targets, 2)
	for _, args := range [][]string{
		{"-json", "-json"},
		{"-netns", "/a", "-netns", "/b"},
		{"-interval", "1s", "-interval", "2s"},
		{"-discover", "-i", "eth2", "-discover"},
	} {
		_, err = parseFlags(args, io.Discard)
		require.ErrorContains(t, err, "given 2 times", "%q", args)
	}
}

// namedLab builds a named lab (visible under /var/run/netns) with node:eth2
// <-> sw:p2.
func namedLab(t *testing.T) (node, sw *netlab.NS) {
	t.Helper()
	netlab.Require(t)
	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lab.Close()) })
	p, err := lab.Pair(netlab.PairOptions{Node: "node", Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	require.NoError(t, err)
	return p.Node, p.Peer
}

// lineWriter hands written lines to a channel.
type lineWriter struct{ ch chan string }

func (w lineWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.ch <- l
	}
	return len(b), nil
}

func nextLine(t *testing.T, ch <-chan string, match func(string) bool) string {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	for {
		select {
		case l := <-ch:
			if match(l) {
				return l
			}
		case <-tm.C:
			t.Fatal("no matching output line within 10s")
		}
	}
}

func TestRunInNamedNamespace(t *testing.T) {
	node, sw := namedLab(t)
	lines := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{ifaces: []string{"eth2"}, json: true, netns: node.Path()}, newOutput(lineWriter{lines}, true))
	}()
	var rec jsonl.Link
	first := nextLine(t, lines, func(string) bool { return true })
	require.NoError(t, json.Unmarshal([]byte(first), &rec))
	require.Equal(t, "eth2", rec.Interface)
	require.True(t, rec.Carrier)
	require.Regexp(t, jsonTime, rec.Time)
	idx, err := node.Index("eth2")
	require.NoError(t, err)
	require.Equal(t, idx, rec.Index)

	require.NoError(t, sw.SetDown("p2"))
	l := nextLine(t, lines, func(l string) bool { return strings.Contains(l, `"carrier":false`) })
	require.NoError(t, json.Unmarshal([]byte(l), &rec))
	require.True(t, rec.AdminUp)
	require.Equal(t, "link", rec.Event)
	cancel()
	require.NoError(t, <-done)

	// Unknown interface: a clear error.
	err = run(context.Background(), options{ifaces: []string{"eth7"}, netns: node.Path()}, newOutput(io.Discard, false))
	require.EqualError(t, err, `unknown interface "eth7"`)
}

// command is exec.Command bounded by the test: the process is killed when
// the test ends, also when it fails (a require in the middle of a
// sequence) or after two minutes, so that no netwatch outlives its test
// (nor blocks a pipe read for ever).
func command(t *testing.T, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TestBinary builds netwatch and checks its exit statuses: 2 with a message
// for a bad command line, 1 with a message for an unknown interface, 0 on
// SIGINT.
func TestBinary(t *testing.T) {
	node, _ := namedLab(t)
	bin := filepath.Join(t.TempDir(), "netwatch")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var ee *exec.ExitError
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"extra-argument"}, `netwatch: unexpected argument "extra-argument"`},
		{[]string{"-json", "-json"}, "netwatch: flag -json given 2 times"},
		{[]string{"-interval", "0s"}, "netwatch: -interval 0s: must be positive"},
		{[]string{"-discover"}, "netwatch: -discover needs -i"},
		{[]string{"-nope"}, "netwatch: flag provided but not defined: -nope"},
	} {
		cmd := command(t, bin, c.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		require.True(t, errors.As(err, &ee), "%q: %v", c.args, err)
		require.Equal(t, 2, ee.ExitCode(), "%q", c.args)
		require.Contains(t, stderr.String(), c.msg, "%q", c.args)
		require.Empty(t, stdout.String(), "%q", c.args)
	}

	cmd := command(t, bin, "-netns", node.Path(), "-i", "eth2,eth7")
	out, err = cmd.CombinedOutput()
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), `unknown interface "eth7"`)

	cmd = command(t, bin, "-netns", node.Path(), "-i", "eth2")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan())
	require.True(t, strings.HasPrefix(sc.Text(), "NAME"), sc.Text())
	require.True(t, sc.Scan())
	require.True(t, strings.HasPrefix(sc.Text(), "eth2 "), sc.Text())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait())
	require.Equal(t, 0, cmd.ProcessState.ExitCode())
}

// TestTargetsInNamedNamespace probes a target out of the node's eth2 and
// prints its state changes: up, then down when it stops answering while the
// link stays up, then up again.
func TestTargetsInNamedNamespace(t *testing.T) {
	node, sw := namedLab(t)
	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("198.18.20.2/24")))
	require.NoError(t, sw.AddAddr("p2", netip.MustParsePrefix("198.18.20.1/24")))
	// The discovered first hop: a route through eth2's neighbour.
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.30.0/24"),
		Gateway: netip.MustParseAddr("198.18.20.1"), Dev: "eth2"}))
	lines := make(chan string, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o, err := parseFlags([]string{"-i", "eth2", "-json", "-netns", node.Path(), "-discover",
		"-interval", "20ms", "-timeout", "100ms", "-fail-after", "3", "-recover-after", "2"}, io.Discard)
	require.NoError(t, err)
	go func() { done <- run(ctx, o, newOutput(lineWriter{lines}, true)) }()

	target := func(state string) func(string) bool {
		return func(l string) bool {
			var rec jsonl.Target
			return json.Unmarshal([]byte(l), &rec) == nil && rec.Event == "target" && rec.State == state
		}
	}
	var rec jsonl.Target
	require.NoError(t, json.Unmarshal([]byte(nextLine(t, lines, target("up"))), &rec))
	require.Equal(t, "eth2", rec.Interface)
	require.Equal(t, "198.18.20.1", rec.Target)
	require.Positive(t, rec.RTTMicros)
	require.Regexp(t, jsonTime, rec.Time)

	require.NoError(t, sw.Silence())
	nextLine(t, lines, target("down"))
	require.NoError(t, sw.Unsilence())
	nextLine(t, lines, target("up"))
	cancel()
	require.NoError(t, <-done)
}

func TestHealthLine(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC)
	bad := &netpulse.ConditionEvent{Time: at, Condition: netpulse.Condition{Err: &linkmon.Error{Op: "reopen", Err: syscall.EMFILE}}}
	require.Equal(t, "2026-11-22T05:00:00.000000001Z link watcher failing (reopening with backoff): linkmon: reopen: too many open files", healthLine(bad))
	good := &netpulse.ConditionEvent{Time: at, Condition: netpulse.Condition{OK: true}}
	require.Equal(t, "2026-11-22T05:00:00.000000001Z link watcher: sockets reopened", healthLine(good))
}
