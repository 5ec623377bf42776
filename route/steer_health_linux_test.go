//go:build linux

package route

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The Steerer's health is on its event stream: a failing kernel change
// gives one failing event (with the error) and Snapshot().Condition, the
// next successful reconciliation one working event. The failure is
// injected before the kernel (EPERM, as without CAP_NET_ADMIN); the real
// EPERM is TestSteererWithoutCapNetAdmin's.
func TestSteererHealthEvents(t *testing.T) {
	t.Parallel()
	c := newCIPLab(t, false, false)
	st := c.steerer(t)
	fault := func(r *Route, add bool) error { return unix.EPERM }
	st.routeFault.Store(&fault)
	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead))
	ev := nextCondition(t, st)
	require.Equal(t, netpulse.ReasonFailing, ev.Reason)
	require.False(t, ev.Condition.OK)
	require.True(t, ev.Previous.OK)
	require.ErrorIs(t, ev.Condition.Err, os.ErrPermission)
	// A subscription made while failing starts with the state of the
	// guarded prefix, then the condition.
	late := st.Subscribe(context.Background())
	state := (<-late).(*SteerEvent)
	require.True(t, state.Initial)
	require.Equal(t, c.subnet, state.Dst)
	require.Equal(t, state.Interface, state.Previous)
	first := (<-late).(*netpulse.ConditionEvent)
	require.Equal(t, netpulse.ReasonFailing, first.Reason)
	require.ErrorIs(t, first.Condition.Err, os.ErrPermission)
	snap := st.Snapshot()
	require.False(t, snap.Condition.OK)
	require.ErrorIs(t, snap.Condition.Err, os.ErrPermission)
	require.Equal(t, ev.Condition, snap.Condition, "the Snapshot shows the condition the event told")
	require.ErrorIs(t, snap.LastError, os.ErrPermission)
	require.Equal(t, c.eth3, c.kernelOut(t), "steered although every change failed")
	// Still failing: no second failing event.
	st.Observe(evidence(c.eth2, netpulse.StateUnknown, netpulse.VerdictAlive))
	st.routeFault.Store(nil)
	st.Reconcile()
	ev = nextCondition(t, st)
	require.Equal(t, netpulse.ReasonWorking, ev.Reason)
	require.True(t, ev.Condition.OK)
	require.NoError(t, ev.Condition.Err)
	require.True(t, st.Snapshot().Condition.OK)
	waitFor(t, 5*time.Second, "steered once the fault is gone", func() bool { return c.kernelOut(t) == c.eth2 })
}

// The Steerer keeps its own copy of the namespace descriptor: the caller
// closes its descriptor right after OpenSteerer and another namespace takes
// the number; Close still puts the sysctls back in the right namespace.
func TestSteererKeepsItsNamespaceWhenTheCallerClosesItsFD(t *testing.T) {
	t.Parallel()
	c := newCIPLab(t, false, false)
	other, err := c.lab.NewNS("other")
	require.NoError(t, err)
	require.NoError(t, c.lab.Veth(other, "eth3", c.srv, "o3", nil))
	num, err := unix.Dup(c.node.FD())
	require.NoError(t, err)
	st, err := OpenSteerer(context.Background(), &SteererConfig{NetNS: num, Prefixes: []netip.Prefix{c.subnet}, Interfaces: []string{"eth3", "eth2"}})
	require.NoError(t, err)
	require.NoError(t, unix.Close(num))
	g, err := unix.Dup(other.FD())
	require.NoError(t, err)
	defer unix.Close(g)
	t.Logf("caller's fd %d closed, %d now names another namespace", num, g)
	v, err := c.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead))
	waitFor(t, 5*time.Second, "steered", func() bool { return c.kernelOut(t) == c.eth2 })
	require.NoError(t, st.Close())
	for _, ns := range []*netlab.NS{c.node, other} {
		v, err := ns.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
		require.NoError(t, err)
		require.Equal(t, "0", v, "in %s", ns.Name())
	}
	require.Equal(t, c.eth3, c.kernelOut(t))
}

// steererChildEnv runs TestSteererWithoutCapNetAdmin's child: OpenSteerer
// in the namespace at descriptor 3, its error on stdout.
const steererChildEnv = "NETPULSE_ROUTE_STEERER_CHILD"

// Without CAP_NET_ADMIN (dropped with setpriv from a child process)
// OpenSteerer fails at once with an error wrapping os.ErrPermission that
// names the capability, whether the sysctls are already set (nothing
// else would have failed before the first steering) or not, and leaves
// nothing behind.
func TestSteererWithoutCapNetAdmin(t *testing.T) {
	if os.Getenv(steererChildEnv) != "" {
		steererChild()
		return
	}
	t.Parallel()
	netlab.Require(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	for _, preset := range []bool{false, true} {
		c := newCIPLab(t, false, false)
		if preset {
			for _, k := range []string{"eth3", "eth2"} {
				require.NoError(t, c.node.Sysctl("net/ipv4/conf/"+k+"/ignore_routes_with_linkdown", "1"))
			}
		}
		before := c.routes(t)
		fd, err := unix.Dup(c.node.FD())
		require.NoError(t, err)
		ns := os.NewFile(uintptr(fd), "netns")
		defer ns.Close()
		cmd := exec.Command(setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
			os.Args[0], "-test.run=^TestSteererWithoutCapNetAdmin$", "-test.count=1")
		cmd.Env = append(os.Environ(), steererChildEnv+"=1")
		cmd.ExtraFiles = []*os.File{ns}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		elapsed := time.Since(start)
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "CHILD-ERR: ", "%s", out)
		require.Contains(t, string(out), "CAP_NET_ADMIN")
		require.Contains(t, string(out), "permission: true")
		t.Logf("preset=%v: refused in %v (child process included): %s", preset, elapsed, strings.TrimSpace(string(out)))
		require.True(t, routesEqual(before, c.routes(t)), "routes changed")
		want := map[bool]string{false: "0", true: "1"}[preset]
		for _, k := range []string{"eth3", "eth2"} {
			v, err := c.node.ReadSysctl("net/ipv4/conf/" + k + "/ignore_routes_with_linkdown")
			require.NoError(t, err)
			require.Equal(t, want, v)
		}
	}
}

func steererChild() {
	_, err := OpenSteerer(context.Background(), &SteererConfig{NetNS: 3,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth3", "eth2"}})
	if err == nil {
		os.Stdout.WriteString("CHILD-ERR: none\n")
		os.Exit(0)
	}
	os.Stdout.WriteString("CHILD-ERR: " + err.Error() + "\n")
	if errors.Is(err, os.ErrPermission) {
		os.Stdout.WriteString("permission: true\n")
	}
}
