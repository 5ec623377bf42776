//go:build linux

package health_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// kernelLab is the node of a service subnet: eth3 (activated first) and
// eth2 on 198.18.10.0/24, through a bridge (sw) to a server (srv) that is
// the polling target of both.
type kernelLab struct {
	lab          *netlab.Lab
	node, sw     *netlab.NS
	subnet       netip.Prefix
	server       netip.Addr
	service      netip.Prefix
	eth3, eth2   int
	mon          *health.Monitor
	steer        *route.Steerer
	rec          *failovertest.Recorder
	linkWatcher  *linkmon.Watcher
	probePoller  *ipmon.Poller
	addr3, addr2 netip.Prefix
}

func newKernelLab(t *testing.T) *kernelLab {
	t.Helper()
	k := &kernelLab{
		subnet: netip.MustParsePrefix("198.18.10.0/24"), server: netip.MustParseAddr("198.18.10.100"),
		service: netip.MustParsePrefix("198.18.10.50/24"),
		addr3:   netip.MustParsePrefix("198.18.10.3/24"), addr2: netip.MustParsePrefix("198.18.10.2/24")}
	// eth3 is activated first: its subnet route comes first.
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", StrictARP: true, Bridge: "br0",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{k.addr3}},
			{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{k.addr2}},
		},
		Server: &netlab.PairLink{Name: "eth0", Peer: "ps", Addrs: []netip.Prefix{netip.PrefixFrom(k.server, 24)}},
	})
	k.lab, k.node, k.sw = pr.Lab, pr.Node, pr.Peer
	k.eth3, k.eth2 = pr.Index("eth3"), pr.Index("eth2")
	waitFor(t, "server reachable", func() bool {
		_, err := k.node.Ping("", k.server, 500*time.Millisecond)
		return err == nil
	})
	return k
}

// start wires the node's netpulse as an application does: linkmon and
// ipmon into one health Monitor, which feeds a route Steerer and a
// failover engine (on the recording actuator).
func (k *kernelLab) start(t *testing.T) {
	ctx := t.Context()
	fd := k.node.FD()
	var err error
	k.linkWatcher, err = linkmon.Open(ctx, &linkmon.Config{NetNS: fd,
		Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.linkWatcher.Close()) })
	k.probePoller, err = ipmon.Open(ctx, &ipmon.Config{NetNS: fd, StrictIngress: true,
		Interval: 10 * time.Millisecond, Timeout: 20 * time.Millisecond, FailAfter: 3, RecoverAfter: 2})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.probePoller.Close()) })
	for _, n := range []string{"eth3", "eth2"} {
		require.NoError(t, k.probePoller.Add(ipmon.Target{Addr: k.server, Interface: n}))
	}
	k.steer, err = route.OpenSteerer(ctx, &route.SteererConfig{NetNS: fd, Prefixes: []netip.Prefix{k.subnet},
		Interfaces: []string{"eth3", "eth2"}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.steer.Close()) })
	k.rec = failovertest.NewRecorder()
	eng, err := failover.Open(ctx, &failover.Config{Actuator: k.rec, Groups: []failover.GroupConfig{{
		Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{k.service},
		NoHoldDown: true, NoMinDwell: true,
	}}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, eng.Close()) })

	k.mon, err = health.New(ctx, &health.Config{Links: k.linkWatcher, Probes: k.probePoller})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.mon.Close()) }) // first: nothing feeds a closed consumer
	require.NoError(t, k.mon.Feed(ctx, k.steer))
	require.NoError(t, k.mon.Feed(ctx, eng))
}

// evidence returns the Monitor's evidence of name, without its time.
func (k *kernelLab) evidence(name string) netpulse.Evidence { return evidenceOf(k.mon, name) }

func evidenceOf(mon *health.Monitor, name string) netpulse.Evidence {
	for _, e := range mon.Snapshot() {
		if e.Interface.Name == name {
			e.Time = time.Time{}
			return e
		}
	}
	return netpulse.Evidence{}
}

// wait waits until the Monitor's evidence of name is want, the engine's
// addresses are on holder, and the kernel sends to the server through the
// interface with index out.
func (k *kernelLab) wait(t *testing.T, what string, name string, want netpulse.Evidence, holder string, out int) {
	t.Helper()
	want.Interface.Name = name
	waitFor(t, what+": evidence", func() bool { return k.evidence(name) == want })
	waitFor(t, what+": addresses", func() bool { return slices.Equal(k.rec.Holders(k.service), []string{holder}) })
	waitFor(t, what+": kernel route", func() bool {
		ans, err := k.node.RouteGet(k.server)
		return err == nil && ans.OutIface == out
	})
	if want.Interface.Index != 0 {
		require.Equal(t, want.Health(), k.steer.Health(want.Interface.Index), "%s: the Steerer's health of %s", what, name)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ev(index int, link netpulse.State, ip netpulse.Verdict) netpulse.Evidence {
	return netpulse.Evidence{Interface: netpulse.Interface{Index: index}, Link: link, IP: ip}
}

// TestMonitorKernel runs the Monitor on the real linkmon and ipmon in a
// namespace, feeding a real route Steerer and a failover engine: carrier
// loss, an IP-level failure with the link up, a rename and a re-creation
// each reach the Monitor's evidence, the engine's addresses and the
// kernel's route to the subnet.
func TestMonitorKernel(t *testing.T) {
	k := newKernelLab(t)
	k.start(t)
	up, down := netpulse.StateUp, netpulse.StateDown
	alive, dead := netpulse.VerdictAlive, netpulse.VerdictDead

	k.wait(t, "start", "eth3", ev(k.eth3, up, alive), "eth3", k.eth3)
	k.wait(t, "start", "eth2", ev(k.eth2, up, alive), "eth3", k.eth3)
	require.True(t, k.mon.Condition().OK)

	// Carrier loss on eth3 (its switch port down).
	require.NoError(t, k.sw.SetDown("p3"))
	k.wait(t, "carrier loss", "eth3", ev(k.eth3, down, dead), "eth2", k.eth2)
	require.Equal(t, netpulse.HealthLinkDown, k.evidence("eth3").Health())
	require.NoError(t, k.sw.SetPortUp("p3"))
	k.wait(t, "carrier back", "eth3", ev(k.eth3, up, alive), "eth3", k.eth3)

	// eth3's switch port detached from the bridge: its carrier stays, its
	// path is dead. Only the IP evidence shows it; the Steerer sends to
	// the subnet through eth2.
	require.NoError(t, k.sw.SetMaster("p3", ""))
	k.wait(t, "IP-only failure", "eth3", ev(k.eth3, up, dead), "eth2", k.eth2)
	require.Equal(t, netpulse.FailureIPOnly, k.evidence("eth3").Failure())
	require.NoError(t, k.sw.SetMaster("p3", "br0"))
	k.wait(t, "path back", "eth3", ev(k.eth3, up, alive), "eth3", k.eth3)

	// eth3 renamed eth9: the name eth3 is gone (its last verdict kept).
	require.NoError(t, k.node.Rename("eth3", "eth9"))
	waitFor(t, "rename: evidence", func() bool {
		e := k.evidence("eth3")
		return e.Interface.Index == 0 && e.Link == down
	})
	waitFor(t, "rename: addresses", func() bool { return slices.Equal(k.rec.Holders(k.service), []string{"eth2"}) })

	// eth3 re-created (the renamed link deleted, a new one made): a new
	// index, and once its path answers, the addresses back and the route.
	require.NoError(t, k.node.DeleteLink("eth9"))
	require.NoError(t, k.lab.Veth(k.node, "eth3", k.sw, "p3", nil))
	require.NoError(t, k.sw.SetMaster("p3", "br0"))
	require.NoError(t, k.node.AddAddr("eth3", k.addr3))
	idx, err := k.node.Index("eth3")
	require.NoError(t, err)
	require.NotEqual(t, k.eth3, idx)
	// eth2 was activated first this time: the kernel's own route takes it.
	k.wait(t, "re-created", "eth3", ev(idx, up, alive), "eth3", k.eth2)
	require.True(t, k.mon.Condition().OK)
}

// TestUnverifiedTargetDoesNotSteerKernel is #11.5 on the real kernel, wired
// as routeguard wires it (linkmon and ipmon into a Monitor that feeds a
// route.Steerer): eth3's target is an address nobody answers, eth2's the
// server. eth3's path is healthy, so the subnet must stay on eth3 after the
// unverified target missed many times. A carrier loss on eth3 then does
// steer (the wiring works).
func TestUnverifiedTargetDoesNotSteerKernel(t *testing.T) {
	k := newKernelLab(t)
	nobody := netip.MustParseAddr("198.18.10.99")
	ctx := t.Context()
	fd := k.node.FD()
	st, err := route.OpenSteerer(ctx, &route.SteererConfig{NetNS: fd, Prefixes: []netip.Prefix{k.subnet},
		Interfaces: []string{"eth3", "eth2"}})
	require.NoError(t, err)
	defer st.Close()
	steered := st.Subscribe(ctx)
	if ev, ok := (<-steered).(*route.SteerEvent); !ok || !ev.Initial {
		t.Fatalf("the subscription starts with the guarded prefix's state: %+v", ev)
	}
	lw, err := linkmon.Open(ctx, &linkmon.Config{NetNS: fd,
		Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}}})
	require.NoError(t, err)
	defer lw.Close()
	const iv = 20 * time.Millisecond
	p, err := ipmon.Open(ctx, &ipmon.Config{NetNS: fd, Interval: iv, Timeout: iv, FailAfter: 3, RecoverAfter: 2})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Add(ipmon.Target{Addr: nobody, Interface: "eth3"}))
	require.NoError(t, p.Add(ipmon.Target{Addr: k.server, Interface: "eth2"}))
	mon, err := health.New(ctx, &health.Config{Links: lw, Probes: p})
	require.NoError(t, err)
	defer mon.Close()
	require.NoError(t, mon.Feed(ctx, st))

	waitFor(t, "eth2 alive and eth3 unverified", func() bool {
		return evidenceOf(mon, "eth2").IP == netpulse.VerdictAlive && evidenceOf(mon, "eth3").IP == netpulse.VerdictUnverified
	})
	// Many more misses than FailAfter: the verdict stays unverified, and
	// nothing may steer.
	time.Sleep(25 * iv)
	e3 := evidenceOf(mon, "eth3")
	require.Equal(t, netpulse.VerdictUnverified, e3.IP)
	require.Equal(t, netpulse.HealthUp, e3.Health())
	require.Equal(t, netpulse.HealthUp, st.Health(k.eth3))
	select {
	case ev := <-steered:
		t.Fatalf("an unverified target steered: %+v", ev)
	default:
	}
	ans, err := k.node.RouteGet(k.server)
	require.NoError(t, err)
	require.Equal(t, k.eth3, ans.OutIface, "the subnet left a healthy eth3")

	// The control: carrier loss on eth3 steers to eth2.
	require.NoError(t, k.sw.SetDown("p3"))
	select {
	case e := <-steered:
		ev, ok := e.(*route.SteerEvent)
		require.True(t, ok, "%+v", e)
		require.Equal(t, "eth2", ev.Interface.Name, "%+v", ev)
		require.Equal(t, netpulse.ReasonLinkDown, ev.Reason, "%+v", ev)
	case <-time.After(10 * time.Second):
		t.Fatal("carrier loss on eth3 did not steer")
	}
}
