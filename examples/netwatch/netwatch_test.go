package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var jsonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

func TestLinkJSON(t *testing.T) {
	ev := linkmon.Event{
		Time: time.Date(2026, 11, 22, 5, 0, 0, 120000000, time.UTC),
		State: linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Oper: linkmon.OperLowerLayerDown,
			HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}},
	}
	b := linkJSON(ev)
	require.Equal(t, `{"time":"2026-11-22T05:00:00.120000000Z","event":"link","interface":"eth2","index":3,"carrier":false,"admin_up":true,"oper":"lowerlayerdown"}`, string(b))
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Len(t, m, 7)
}

func TestLinkLine(t *testing.T) {
	up := linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperUp}
	down := up
	down.Carrier, down.Oper = false, linkmon.OperLowerLayerDown
	at := time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC)
	require.Equal(t, "2026-11-22T05:00:00.000000001Z eth2 carrier down (admin up, oper lowerlayerdown, index 3)",
		linkLine(linkmon.Event{Time: at, State: down, Previous: up}))
	admin := down
	admin.AdminUp, admin.Oper = false, linkmon.OperDown
	require.Contains(t, linkLine(linkmon.Event{Time: at, State: admin, Previous: down}), "eth2 admin down")
	gone := admin
	gone.Present = false
	require.Contains(t, linkLine(linkmon.Event{Time: at, State: gone, Previous: admin}), "eth2 removed")
	require.Contains(t, linkLine(linkmon.Event{Time: at, State: up}), "eth2 appeared, carrier up")

	var buf bytes.Buffer
	o := newOutput(&buf, false)
	o.table([]linkmon.State{{Index: 1, Name: "lo", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperUnknown},
		{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperUp, Detail: linkmon.Detail{SpeedMbps: 10000}}})
	require.Equal(t, "NAME  INDEX  CARRIER  ADMIN  OPER     SPEED\nlo    1      up       up     unknown  -\neth2  3      up       up     up       10Gb/s\n", buf.String())
}

func TestPrintable(t *testing.T) {
	up := linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Oper: linkmon.OperUp}
	detail := up
	detail.Detail.SpeedMbps = 1000
	require.False(t, printable(linkmon.Event{State: detail, Previous: up}), "ethtool detail alone is not printed")
	down := up
	down.Carrier = false
	require.True(t, printable(linkmon.Event{State: down, Previous: up}))
	require.True(t, printable(linkmon.Event{State: up}), "a new link is printed")
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-i", "eth2, eth3", "-json", "-netns", "/var/run/netns/x"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, options{ifaces: []string{"eth2", "eth3"}, json: true, netns: "/var/run/netns/x"}, o)
	_, err = parseFlags([]string{"extra"}, io.Discard)
	require.Error(t, err)
	_, err = parseFlags([]string{"-nope"}, io.Discard)
	require.Error(t, err)
}

// namedLab builds a named lab (visible under /var/run/netns) with node:eth2
// <-> sw:p2.
func namedLab(t *testing.T) (node, sw *netlab.NS) {
	t.Helper()
	netlab.Require(t)
	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lab.Close()) })
	node, err = lab.NewNS("node")
	require.NoError(t, err)
	sw, err = lab.NewNS("sw")
	require.NoError(t, err)
	require.NoError(t, lab.Veth(node, "eth2", sw, "p2", nil))
	return node, sw
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
	var rec linkRecord
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

// TestBinary builds netwatch and checks its exit statuses: 1 with a message
// for an unknown interface, 0 on SIGINT.
func TestBinary(t *testing.T) {
	node, _ := namedLab(t)
	bin := filepath.Join(t.TempDir(), "netwatch")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "-netns", node.Path(), "-i", "eth2,eth7")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), `unknown interface "eth7"`)

	cmd = exec.Command(bin, "-netns", node.Path(), "-i", "eth2")
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
