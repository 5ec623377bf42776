package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/route"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var jsonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$`)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-i", "eth2, eth3", "-target", "eth3=198.18.10.1", "-target", "eth2=2001:db8::1",
		"-interval", "20ms", "-fail-after", "4", "-recover-after", "1", "-json", "-netns", "/var/run/netns/x"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"eth2", "eth3"}, o.ifaces)
	require.Len(t, o.probes.Targets, 2)
	require.Equal(t, "eth3", o.probes.Targets[0].Interface)
	require.Equal(t, 20*time.Millisecond, o.probes.Targets[0].Interval)
	require.Equal(t, 20*time.Millisecond, o.probes.Targets[0].Timeout, "timeout defaults to the interval")
	require.Equal(t, 4, o.probes.Targets[0].FailAfter)
	require.Equal(t, 1, o.probes.Targets[0].RecoverAfter)
	require.True(t, o.json)
	require.Equal(t, "/var/run/netns/x", o.netns)

	for _, bad := range [][]string{
		{},
		{"-i", "eth2", "-target", "nonsense"},
		{"-i", "eth2", "-target", "eth9=198.18.10.1"},
		{"-i", "eth2", "extra"},
		{"-i", "eth2", "-interval", "1s", "-interval", "10ms"},
		{"-i", "eth2", "-json", "-json"},
		{"-i", "eth2", "-netns", "/a", "-netns", "/b"},
		{"-i", "eth2", "-fail-after", "3", "-fail-after", "4"},
		{"-i", "eth2,eth2"},
		{"-i", "eth2", "-i", "eth2"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.Error(t, err, "%q", bad)
	}
	// The same check and message as netwatch's (probeflags.Parse).
	_, err = parseFlags([]string{"-i", "eth2", "-interval", "1s", "-interval", "10ms"}, io.Discard)
	require.ErrorContains(t, err, "flag -interval given 2 times")
	// -i is a list: repeated, it adds to it in order.
	o, err = parseFlags([]string{"-i", "eth3", "-i", "eth2,eth4"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"eth3", "eth2", "eth4"}, o.ifaces)
}

func TestSteeringJSON(t *testing.T) {
	r, w := io.Pipe()
	o := newOutput(w, true)
	go func() {
		o.steering(&route.SteerEvent{Time: time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC), Dst: netip.MustParsePrefix("198.18.10.0/24"),
			Interface: netpulse.Interface{Index: 3, Name: "eth2"}, Previous: netpulse.Interface{Index: 4, Name: "eth3"}, Reason: netpulse.ReasonLinkDown})
		o.steering(&route.SteerEvent{Reason: netpulse.ReasonReconciled}) // not part of the JSON contract
		w.Close()
	}()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, `{"time":"2026-11-22T05:00:00.000000001Z","event":"route","dst":"198.18.10.0/24","interface":"eth2","previous":"eth3","reason":"link-down"}`+"\n", string(b))
}

// The health of the Steerer and of the link watcher goes to diag (stderr)
// in both forms, never into the JSON-lines contract on stdout.
func TestDiagnostics(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC)
	for _, asJSON := range []bool{false, true} {
		var stdout, diag strings.Builder
		o := newOutput(&stdout, asJSON)
		o.diag = &diag
		require.NoError(t, o.steering(&netpulse.ConditionEvent{Time: at, Reason: netpulse.ReasonFailing, Condition: netpulse.Condition{Err: os.ErrPermission}}))
		require.NoError(t, o.steering(&netpulse.ConditionEvent{Time: at, Reason: netpulse.ReasonWorking, Condition: netpulse.Condition{OK: true}}))
		o.linkHealth(&netpulse.ConditionEvent{Time: at, Condition: netpulse.Condition{Err: errors.New("receive: EBADF"), Since: at}})
		o.linkHealth(&netpulse.ConditionEvent{Time: at, Condition: netpulse.Condition{OK: true}})
		require.Empty(t, stdout.String(), "json %v", asJSON)
		require.Equal(t, "2026-11-22T05:00:00.000000001Z steering failing: permission denied\n"+
			"2026-11-22T05:00:00.000000001Z steering working\n"+
			"2026-11-22T05:00:00.000000001Z link watcher failing (reopening with backoff): receive: EBADF\n"+
			"2026-11-22T05:00:00.000000001Z link watcher: sockets reopened\n", diag.String(), "json %v", asJSON)
	}
}

// guardLab is the CIP topology in named namespaces: node with eth3
// (activated first) and eth2 on one subnet through a bridge to srv.
type guardLab struct {
	node, sw, srv *netlab.NS
	subnet        netip.Prefix
}

func newGuardLab(t *testing.T) *guardLab {
	netlab.Require(t)
	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lab.Close()) })
	p, err := lab.Pair(netlab.PairOptions{Node: "node", Peer: "sw", Bridge: "br0", StrictARP: true,
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24")}},
			{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24")}},
		},
		ServerNS: "srv", Server: &netlab.PairLink{Name: "eth0", Peer: "ps", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.100/24")}},
	})
	require.NoError(t, err)
	return &guardLab{node: p.Node, sw: p.Peer, srv: p.Server, subnet: netip.MustParsePrefix("198.18.10.0/24")}
}

// waitWatching waits until routeguard, running in another process, has
// opened its link watcher (linkmon's socket bound to RTNLGRP_LINK alone in
// the node's namespace). routeguard opens it after subscribing to its
// Steerer, so from then on a steering change is printed, whether the
// carrier loss reaches it through linkmon or the kernel's linkdown flag.
func (g *guardLab) waitWatching(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := g.node.NetlinkListeners(unix.NETLINK_ROUTE, 1<<(unix.RTNLGRP_LINK-1))
		require.NoError(t, err)
		return n > 0
	}, 20*time.Second, 5*time.Millisecond, "routeguard's link watcher not open")
}

func (g *guardLab) routes(t *testing.T) []route.Route {
	v, err := route.OpenView(context.Background(), &route.ViewConfig{NetNS: g.node.FD()})
	require.NoError(t, err)
	defer v.Close()
	return v.Routes()
}

func (g *guardLab) out(t *testing.T) string {
	ans, err := g.node.RouteGet(netip.MustParseAddr("198.18.10.100"))
	require.NoError(t, err)
	l, err := g.node.Links()
	require.NoError(t, err)
	for _, m := range l {
		if int(m.Index) == ans.OutIface {
			return m.Attributes.Name
		}
	}
	return ""
}

func TestRouteguardInLab(t *testing.T) {
	t.Parallel()
	g := newGuardLab(t)
	before := g.routes(t)
	require.Equal(t, "eth3", g.out(t))

	o, err := parseFlags([]string{"-i", "eth3,eth2", "-json", "-netns", g.node.Path(),
		"-target", "eth3=198.18.10.100", "-target", "eth2=198.18.10.100",
		"-interval", "20ms", "-fail-after", "3", "-recover-after", "2"}, io.Discard)
	require.NoError(t, err)
	o.ready = make(chan struct{})
	// eth3State is the state of eth3's target as routeguard's probes see
	// it: a failure sequence starts only once the path was verified, else
	// a target that never answered is no evidence of a dead path and
	// nothing is steered (#11.5).
	var eth3State atomic.Int32
	o.onIP = func(raw netpulse.Event) {
		if ev, ok := raw.(*ipmon.TargetEvent); ok && ev.Interface.Name == "eth3" {
			eth3State.Store(int32(ev.State))
		}
	}
	waitAlive := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for ipmon.TargetState(eth3State.Load()) != ipmon.TargetUp {
			require.True(t, time.Now().Before(deadline), "eth3's target does not answer routeguard's probes")
			time.Sleep(5 * time.Millisecond)
		}
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, o, newOutput(pw, true))
		pw.Close()
	}()
	lines := make(chan map[string]string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]string
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	expect := func(iface, prev, reason string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				require.True(t, ok, "output ended")
				require.Len(t, m, 6, "%v", m)
				require.Regexp(t, jsonTime, m["time"])
				require.Equal(t, "route", m["event"])
				require.Equal(t, "198.18.10.0/24", m["dst"])
				require.Contains(t, []string{"link-down", "ip-down", "recovered"}, m["reason"])
				if m["interface"] == iface && m["previous"] == prev && m["reason"] == reason {
					return
				}
				t.Logf("skipping %v", m)
			case <-timeout:
				t.Fatalf("no %s event %s -> %s", reason, prev, iface)
			}
		}
	}
	select {
	case <-o.ready:
	case err := <-done:
		t.Fatalf("routeguard stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("routeguard not ready")
	}
	deadline := time.Now().Add(20 * time.Second)
	for g.out(t) != "eth3" || !probed(g) {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(20 * time.Millisecond)
	}
	waitAlive()

	// Carrier loss on eth3.
	require.NoError(t, g.sw.SetDown("p3"))
	expect("eth2", "eth3", "link-down")
	require.Equal(t, "eth2", g.out(t))
	_, err = g.node.Ping("", netip.MustParseAddr("198.18.10.100"), 2*time.Second)
	require.NoError(t, err)
	require.NoError(t, g.sw.SetUp("p3"))
	expect("eth3", "eth2", "recovered")
	waitAlive() // if the target went down without carrier: up again now

	// eth3's path dies with carrier up: ipmon's verdict steers.
	require.NoError(t, g.sw.SetMaster("p3", ""))
	expect("eth2", "eth3", "ip-down")
	require.Equal(t, "eth2", g.out(t))
	require.NoError(t, g.sw.SetMaster("p3", "br0"))
	expect("eth3", "eth2", "recovered")
	waitAlive()

	// Steer once more, then stop as on SIGTERM: the table is restored.
	require.NoError(t, g.sw.SetMaster("p3", ""))
	expect("eth2", "eth3", "ip-down")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("routeguard did not stop")
	}
	for range lines {
	}
	after := g.routes(t)
	require.True(t, slices.EqualFunc(before, after, func(a, b route.Route) bool { return a.Equal(&b) }),
		"before %v\nafter %v", before, after)
	v, err := g.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
	require.NoError(t, err)
	require.Equal(t, "0", v)
}

// probed reports whether eth3's path answers (the lab is ready).
func probed(g *guardLab) bool {
	_, err := g.node.Ping("eth3", netip.MustParseAddr("198.18.10.100"), 200*time.Millisecond)
	return err == nil
}

// buildBinary builds routeguard into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "routeguard")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// command is exec.Command bounded by the test: the process is killed when
// the test ends, also when it fails (a require in the middle of a
// sequence) or after two minutes, so that no routeguard outlives its test
// (nor blocks a pipe read for ever); the namespace it works in is removed
// by the lab's cleanup afterwards.
func command(t *testing.T, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TestBinary builds routeguard and checks its exit statuses: 2 for a bad
// command line (with a message), 1 for an unknown interface, 0 on SIGTERM
// with the table restored.
func TestBinary(t *testing.T) {
	t.Parallel()
	g := newGuardLab(t)
	before := g.routes(t)
	bin := buildBinary(t)

	var ee *exec.ExitError
	out, err := command(t, bin, "-i", "").CombinedOutput()
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "routeguard: -i names no interface")
	out, err = command(t, bin, "-i", "eth3", "-interval", "1s", "-interval", "2s").CombinedOutput()
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "routeguard: flag -interval given 2 times")
	out, err = command(t, bin, "-netns", g.node.Path(), "-i", "eth3,eth7").CombinedOutput()
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), `unknown interface "eth7"`)

	cmd := command(t, bin, "-netns", g.node.Path(), "-i", "eth3,eth2", "-json")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := g.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
		require.NoError(t, err)
		if v == "1" {
			break
		}
		require.True(t, time.Now().Before(deadline), "routeguard did not start")
		time.Sleep(10 * time.Millisecond)
	}
	g.waitWatching(t)
	require.NoError(t, g.sw.SetDown("p3"))
	wait := func(reason string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, `"reason":"`+reason+`"`) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s line", reason)
			}
		}
	}
	wait("link-down")
	require.Equal(t, "eth2", g.out(t))
	require.NoError(t, g.sw.SetUp("p3"))
	wait("recovered")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	require.Equal(t, 0, cmd.ProcessState.ExitCode())
	after := g.routes(t)
	require.True(t, slices.EqualFunc(before, after, func(a, b route.Route) bool { return a.Equal(&b) }))
	v, err := g.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
	require.NoError(t, err)
	require.Equal(t, "0", v)
}

// waitSysctl waits until eth3's ignore_routes_with_linkdown reads want.
func (g *guardLab) waitSysctl(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := g.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
		require.NoError(t, err)
		if v == want {
			return
		}
		require.True(t, time.Now().Before(deadline), "sysctl still %s, want %s", v, want)
		time.Sleep(10 * time.Millisecond)
	}
}

// routeguard -json | head -c 1: once its reader is gone, the next event's
// write fails; routeguard restores the table and the sysctls, prints the
// error and exits 1 (it used to die of SIGPIPE, leaving both).
func TestBinaryClosedOutput(t *testing.T) {
	t.Parallel()
	g := newGuardLab(t)
	before := g.routes(t)
	bin := buildBinary(t)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	cmd := command(t, bin, "-netns", g.node.Path(), "-i", "eth3,eth2", "-json")
	cmd.Stdout = pw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, pw.Close())
	require.NoError(t, pr.Close()) // the reader is gone before any output
	g.waitSysctl(t, "1")
	g.waitWatching(t)
	start := time.Now()
	require.NoError(t, g.sw.SetDown("p3"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("routeguard still runs 20 s after its output closed")
	}
	t.Logf("exited %v after the event; stderr: %s", time.Since(start), stderr.String())
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 1, ee.ExitCode(), "killed by a signal? %v", ee.ProcessState)
	require.Contains(t, stderr.String(), "routeguard: output:")
	require.Contains(t, stderr.String(), "broken pipe")
	for _, k := range []string{"net/ipv4/conf/eth3/ignore_routes_with_linkdown", "net/ipv4/conf/eth2/ignore_routes_with_linkdown"} {
		v, err := g.node.ReadSysctl(k)
		require.NoError(t, err)
		require.Equal(t, "0", v, k)
	}
	require.NoError(t, g.sw.SetUp("p3"))
	deadline := time.Now().Add(10 * time.Second)
	for !slices.EqualFunc(before, g.routes(t), func(a, b route.Route) bool { return a.Equal(&b) }) {
		require.True(t, time.Now().Before(deadline), "routes not restored:\nbefore %v\nafter %v", before, g.routes(t))
		time.Sleep(20 * time.Millisecond)
	}
}

// Without CAP_NET_ADMIN (setpriv), with the sysctls already set or not,
// routeguard exits 1 at once with a message naming the capability and
// changes nothing.
func TestBinaryWithoutCapNetAdmin(t *testing.T) {
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	g := newGuardLab(t)
	bin := buildBinary(t)
	for _, preset := range []string{"0", "1"} {
		for _, k := range []string{"eth3", "eth2"} {
			require.NoError(t, g.node.Sysctl("net/ipv4/conf/"+k+"/ignore_routes_with_linkdown", preset))
		}
		before := g.routes(t)
		start := time.Now()
		out, err := command(t, setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
			bin, "-netns", g.node.Path(), "-i", "eth3,eth2", "-json").CombinedOutput()
		t.Logf("sysctls %s: exit after %v: %s", preset, time.Since(start), out)
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v: %s", err, out)
		require.Equal(t, 1, ee.ExitCode())
		require.Contains(t, string(out), "routeguard: ")
		require.Contains(t, string(out), "CAP_NET_ADMIN")
		require.True(t, slices.EqualFunc(before, g.routes(t), func(a, b route.Route) bool { return a.Equal(&b) }))
		for _, k := range []string{"eth3", "eth2"} {
			v, err := g.node.ReadSysctl("net/ipv4/conf/" + k + "/ignore_routes_with_linkdown")
			require.NoError(t, err)
			require.Equal(t, preset, v)
		}
	}
}
