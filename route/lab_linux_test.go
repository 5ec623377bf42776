//go:build linux

package route

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cipLab is the topology of the CIP failure: node has eth3 (activated
// first) and eth2 on one subnet, both through bridge br0 in sw to srv.
type cipLab struct {
	lab            *netlab.Lab
	node, sw, srv  *netlab.NS
	eth2, eth3     int
	subnet         netip.Prefix
	a2, a3, server netip.Addr
}

func newCIPLab(t testing.TB, v6, nicLike bool) *cipLab {
	t.Helper()
	a3, a2, as := "198.18.10.3/24", "198.18.10.2/24", "198.18.10.100/24"
	if v6 {
		a3, a2, as = "2001:db8:10::3/64", "2001:db8:10::2/64", "2001:db8:10::100/64"
	}
	pfx := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	// eth3 is activated first: its subnet route comes first.
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", StrictARP: true, Bridge: "br0",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: pfx(a3), Veth: &netlab.VethOptions{NICLike: nicLike}},
			{Name: "eth2", Peer: "p2", Addrs: pfx(a2)},
		},
		Server: &netlab.PairLink{Name: "eth0", Peer: "ps", Addrs: pfx(as)},
	})
	c := &cipLab{lab: pr.Lab, node: pr.Node, sw: pr.Peer, srv: pr.Server, eth2: pr.Index("eth2"), eth3: pr.Index("eth3")}
	c.subnet = netip.MustParsePrefix(as).Masked()
	c.a2, c.a3, c.server = netip.MustParsePrefix(a2).Addr(), netip.MustParsePrefix(a3).Addr(), netip.MustParsePrefix(as).Addr()
	waitFor(t, 10*time.Second, "server reachable", func() bool {
		_, err := c.node.Ping("", c.server, 500*time.Millisecond)
		return err == nil
	})
	return c
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *cipLab) kernelOut(t testing.TB) int {
	t.Helper()
	ans, err := c.node.RouteGet(c.server)
	require.NoError(t, err)
	return ans.OutIface
}

func (c *cipLab) carrier(t testing.TB, dev string, want bool) {
	t.Helper()
	waitFor(t, 10*time.Second, dev+" carrier", func() bool {
		ok, err := c.node.Carrier(dev)
		require.NoError(t, err)
		return ok == want
	})
}

// routes dumps the node's main table through a fresh view.
func (c *cipLab) routes(t testing.TB) []Route {
	t.Helper()
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: c.node.FD()})
	require.NoError(t, err)
	defer v.Close()
	return v.Routes()
}

func routesEqual(a, b []Route) bool {
	return slices.EqualFunc(a, b, func(x, y Route) bool { return x.Equal(&y) })
}

// freshRoutes returns the routes of ns's main table as a view opened now
// reads them: what a view that followed the changes must equal.
func freshRoutes(t testing.TB, ns *netlab.NS) []Route {
	t.Helper()
	f, err := OpenView(context.Background(), &ViewConfig{NetNS: ns.FD()})
	require.NoError(t, err)
	defer f.Close()
	return f.Routes()
}

func (c *cipLab) steerer(t testing.TB) *Steerer {
	t.Helper()
	st, err := OpenSteerer(context.Background(), &SteererConfig{
		NetNS: c.node.FD(), Prefixes: []netip.Prefix{c.subnet}, Interfaces: []string{"eth3", "eth2"},
	})
	require.NoError(t, err)
	subscribe(st)
	t.Cleanup(func() { st.Close() })
	return st
}

// steerEvents holds each test Steerer's subscription (*Steerer -> channel).
var steerEvents sync.Map

// subscribe subscribes to st's events for nextEvent and nextCondition:
// right after OpenSteerer, so that no event of the test is missed.
func subscribe(st *Steerer) {
	steerEvents.Store(st, st.Subscribe(context.Background()))
}

// events returns st's subscription (see subscribe).
func events(st *Steerer) <-chan netpulse.Event {
	ch, _ := steerEvents.Load(st)
	return ch.(<-chan netpulse.Event)
}

// evidence is the evidence of interface index.
func evidence(index int, link netpulse.State, ip netpulse.Verdict) netpulse.Evidence {
	return netpulse.Evidence{Time: time.Now(), Interface: netpulse.Interface{Index: index}, Link: link, IP: ip}
}

// nextEvent waits for a steering change that satisfies ok, skipping others
// (and the initial state a subscription starts with).
func nextEvent(t testing.TB, st *Steerer, ok func(*SteerEvent) bool) *SteerEvent {
	t.Helper()
	var found *SteerEvent
	nextOf(t, st, func(ev netpulse.Event) bool {
		se, is := ev.(*SteerEvent)
		if is && !se.Initial && ok(se) {
			found = se
		}
		return found != nil
	})
	return found
}

// nextCondition waits for the Steerer's next condition event.
func nextCondition(t testing.TB, st *Steerer) *netpulse.ConditionEvent {
	t.Helper()
	var found *netpulse.ConditionEvent
	nextOf(t, st, func(ev netpulse.Event) bool {
		found, _ = ev.(*netpulse.ConditionEvent)
		return found != nil
	})
	return found
}

func nextOf(t testing.TB, st *Steerer, ok func(netpulse.Event) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-events(st):
			require.True(t, open, "subscription closed")
			if ok(ev) {
				return
			}
		case <-timeout:
			t.Fatal("no matching steering event within 10 s")
		}
	}
}

func testCIPLinkDown(t *testing.T, v6 bool) {
	c := newCIPLab(t, v6, true)
	require.Equal(t, c.eth3, c.kernelOut(t), "eth3, activated first, carries the subnet")

	// Without the Steerer: the failure as the CIP manual describes it.
	require.NoError(t, c.sw.SetDown("p3"))
	c.carrier(t, "eth3", false)
	_, err := c.node.Ping("", c.server, 300*time.Millisecond)
	require.ErrorIs(t, err, netlab.ErrNoReply, "carrier lost on eth3: the subnet must be unreachable without steering")
	require.Equal(t, c.eth3, c.kernelOut(t), "the kernel keeps using the linkdown route")
	require.NoError(t, c.sw.SetUp("p3"))
	c.carrier(t, "eth3", true)
	waitFor(t, 10*time.Second, "server reachable again", func() bool {
		_, err := c.node.Ping("", c.server, 300*time.Millisecond)
		return err == nil
	})
	before := c.routes(t)
	fam := "ipv4"
	if v6 {
		fam = "ipv6"
	}
	sysctl := "net/" + fam + "/conf/eth3/ignore_routes_with_linkdown"

	// With the Steerer.
	st := c.steerer(t)
	v, err := c.node.ReadSysctl(sysctl)
	require.NoError(t, err)
	require.Equal(t, "1", v)
	require.NoError(t, c.sw.SetDown("p3"))
	c.carrier(t, "eth3", false)
	st.Observe(evidence(c.eth3, netpulse.StateDown, netpulse.VerdictUnknown))
	ev := nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	require.Equal(t, netpulse.ReasonLinkDown, ev.Reason)
	require.Equal(t, c.eth3, ev.Previous.Index)
	require.Equal(t, c.subnet, ev.Dst)
	waitFor(t, 10*time.Second, "kernel lookup names eth2", func() bool { return c.kernelOut(t) == c.eth2 })
	waitFor(t, 10*time.Second, "echo to server after carrier loss", func() bool {
		_, err := c.node.Ping("", c.server, 300*time.Millisecond)
		return err == nil
	})
	sel, err := st.View().Select(c.server, st)
	require.NoError(t, err)
	require.Equal(t, c.eth2, sel.Interface.Index)
	require.Equal(t, c.a2, sel.Src)

	// Carrier back: the original routes, exactly.
	require.NoError(t, c.sw.SetUp("p3"))
	c.carrier(t, "eth3", true)
	st.Observe(evidence(c.eth3, netpulse.StateUp, netpulse.VerdictUnknown))
	ev = nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth3 })
	require.Equal(t, netpulse.ReasonRecovered, ev.Reason)
	waitFor(t, 10*time.Second, "kernel lookup names eth3", func() bool { return c.kernelOut(t) == c.eth3 })
	waitFor(t, 10*time.Second, "original routes back", func() bool { return routesEqual(before, c.routes(t)) })
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close is idempotent")
	v, err = c.node.ReadSysctl(sysctl)
	require.NoError(t, err)
	require.Equal(t, "0", v, "Close puts the sysctl back")
	require.True(t, routesEqual(before, c.routes(t)))
}

func TestCIPFailureLinkDown(t *testing.T) {
	t.Parallel()
	testCIPLinkDown(t, false)
}

func TestCIPFailureLinkDownIPv6(t *testing.T) {
	t.Parallel()
	testCIPLinkDown(t, true)
}

func TestCIPFailureIPLevel(t *testing.T) {
	t.Parallel()
	c := newCIPLab(t, false, false)
	before := c.routes(t)
	st := c.steerer(t)
	require.Equal(t, c.eth3, c.kernelOut(t))

	// Detach eth3's bridge port: carrier stays, the path dies.
	require.NoError(t, c.sw.SetMaster("p3", ""))
	up, err := c.node.Carrier("eth3")
	require.NoError(t, err)
	require.True(t, up, "eth3 keeps its carrier")
	_, err = c.node.Ping("eth3", c.server, 300*time.Millisecond)
	require.ErrorIs(t, err, netlab.ErrNoReply, "the path through eth3 is dead")
	require.Equal(t, c.eth3, c.kernelOut(t), "the kernel cannot see an IP-level failure")

	// Evidence that proves nothing steers nothing: targets that never
	// answered (unverified), and evidence about no interface (Index 0).
	st.Observe(evidence(c.eth3, netpulse.StateUp, netpulse.VerdictUnverified))
	require.Equal(t, netpulse.HealthUp, st.Health(c.eth3))
	st.Observe(netpulse.Evidence{Interface: netpulse.Interface{Name: "eth3"}, IP: netpulse.VerdictDead})
	require.Equal(t, netpulse.HealthUp, st.Health(c.eth3))
	require.Equal(t, c.eth3, c.kernelOut(t))
	require.False(t, st.Snapshot().Guards[0].Steered)

	// The IP monitor's verdict.
	st.Observe(evidence(c.eth3, netpulse.StateUp, netpulse.VerdictDead))
	require.Equal(t, netpulse.HealthIPDown, st.Health(c.eth3))
	ev := nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	require.Equal(t, netpulse.ReasonIPDown, ev.Reason)
	require.Len(t, ev.Added, 2)
	waitFor(t, 10*time.Second, "kernel lookup names eth2", func() bool { return c.kernelOut(t) == c.eth2 })
	waitFor(t, 10*time.Second, "echo to server", func() bool {
		_, err := c.node.Ping("", c.server, 300*time.Millisecond)
		return err == nil
	})
	snap := st.Snapshot()
	require.WithinDuration(t, time.Now(), snap.Time, time.Second)
	require.True(t, snap.Condition.OK)
	require.Len(t, snap.Guards, 1)
	require.True(t, snap.Guards[0].Steered)
	require.Equal(t, c.eth3, snap.Guards[0].Natural.Index)
	vs := st.View().Snapshot()
	require.WithinDuration(t, time.Now(), vs.Time, time.Second)
	require.True(t, vs.Condition.OK)

	// A subscriber that comes now first receives the steered state, as
	// the Snapshot shows it, then nothing until the next change.
	late := st.Subscribe(t.Context())
	state := (<-late).(*SteerEvent)
	require.True(t, state.Initial)
	require.Equal(t, c.subnet, state.Dst)
	require.Equal(t, c.eth2, state.Interface.Index)
	require.Equal(t, state.Interface, state.Previous)
	require.Equal(t, netpulse.ReasonIPDown, state.Reason)
	require.Equal(t, ev.Time, state.Time, "since the move")
	require.Empty(t, state.Added)
	select {
	case e := <-late:
		t.Fatalf("only the state first, got %T", e)
	case <-time.After(50 * time.Millisecond):
	}

	// Path back, verdict up: restored exactly.
	require.NoError(t, c.sw.SetMaster("p3", "br0"))
	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictAlive))
	ev = nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth3 })
	require.Equal(t, netpulse.ReasonRecovered, ev.Reason)
	require.Len(t, ev.Removed, 2)
	waitFor(t, 10*time.Second, "original routes back", func() bool { return routesEqual(before, c.routes(t)) })
	require.Equal(t, c.eth3, c.kernelOut(t))
}

// delRoute deletes a route the way an operator would (`ip route del`).
func delRoute(t testing.TB, ns *netlab.NS, r Route) {
	t.Helper()
	c, err := ns.Dial()
	require.NoError(t, err)
	defer c.Close()
	rm := encodeRoute(&r)
	rm.Protocol = 0
	rm.Scope = unix.RT_SCOPE_NOWHERE
	require.NoError(t, c.Route.Delete(rm))
}

func addRoute(t testing.TB, ns *netlab.NS, r Route) {
	t.Helper()
	c, err := ns.Dial()
	require.NoError(t, err)
	defer c.Close()
	// `ip route append`: routes of equal prefix and metric coexist.
	_, err = c.Execute(encodeRoute(&r), unix.RTM_NEWROUTE, netlink.Request|netlink.Create|netlink.Append|netlink.Acknowledge)
	require.NoError(t, err)
}

func oursIn(rs []Route) []Route {
	var out []Route
	for _, r := range rs {
		if r.Protocol == Protocol(netpulse.DefaultRouteProtocol) {
			out = append(out, r)
		}
	}
	return out
}

func TestSteererHygiene(t *testing.T) {
	t.Parallel()
	c := newCIPLab(t, false, false)
	// A route the Steerer is not told to guard, through eth3.
	require.NoError(t, c.node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.30.0/24"), Gateway: netip.MustParseAddr("198.18.10.1"), Dev: "eth3"}))
	before := c.routes(t)
	var eth2Route Route
	for _, r := range before {
		if r.Dst == c.subnet && r.Interface().Index == c.eth2 {
			eth2Route = r
		}
	}
	require.Equal(t, c.eth2, eth2Route.Interface().Index)

	st := c.steerer(t)
	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead))
	nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	waitFor(t, 10*time.Second, "kernel lookup names eth2", func() bool { return c.kernelOut(t) == c.eth2 })
	ans, err := c.node.RouteGet(netip.MustParseAddr("198.18.30.9"))
	require.NoError(t, err)
	require.Equal(t, c.eth3, ans.OutIface, "an unguarded route is never touched")

	// An operator deletes the guarded route the Steerer steers to: no
	// fight, no crash; the Steerer removes its routes (nothing healthy is
	// left) and puts them back when the route returns.
	delRoute(t, c.node, eth2Route)
	ev := nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth3 })
	require.Equal(t, netpulse.ReasonRemoved, ev.Reason)
	waitFor(t, 10*time.Second, "overrides removed", func() bool { return len(oursIn(c.routes(t))) == 0 })
	addRoute(t, c.node, eth2Route)
	nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	waitFor(t, 10*time.Second, "kernel lookup names eth2 again", func() bool { return c.kernelOut(t) == c.eth2 })
	errs := st.Snapshot().Errors
	// A sleep that is the scenario: an error loop would add errors in
	// this quiet period; nothing can signal that none came.
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, errs, st.Snapshot().Errors, "no error loop")

	// The program dies without cleaning up: its routes and the sysctl it
	// set stay.
	st.abandon()
	require.Len(t, oursIn(c.routes(t)), 2)
	v, err := c.node.ReadSysctl("net/ipv4/conf/eth3/ignore_routes_with_linkdown")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	// Started again, it removes what the dead one left.
	st2 := c.steerer(t)
	require.Len(t, oursIn(c.routes(t)), 0)
	require.EqualValues(t, 4, st2.Snapshot().StaleRemoved, "2 routes and the marks of 2 sysctls")
	require.Equal(t, c.eth3, c.kernelOut(t))
	// Steer and Close: Close restores.
	st2.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead))
	nextEvent(t, st2, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	require.NoError(t, st2.Close())
	var restored []*SteerEvent
	for ev := range events(st2) {
		if se, ok := ev.(*SteerEvent); ok {
			restored = append(restored, se)
		}
	}
	require.NotEmpty(t, restored)
	require.Equal(t, netpulse.ReasonRestored, restored[len(restored)-1].Reason)
	require.True(t, routesEqual(before, c.routes(t)), "Close leaves the table as found")
	require.Equal(t, c.eth3, c.kernelOut(t))
	for _, k := range []string{"eth3", "eth2"} {
		v, err := c.node.ReadSysctl("net/ipv4/conf/" + k + "/ignore_routes_with_linkdown")
		require.NoError(t, err)
		require.Equal(t, "0", v, "the sysctl the dead Steerer set is back to what it found")
	}
	marks, err := OpenView(context.Background(), &ViewConfig{NetNS: c.node.FD(), Tables: []uint32{netpulse.DefaultSysctlTable}})
	require.NoError(t, err)
	defer marks.Close()
	require.Empty(t, marks.Routes(), "no mark left")
}

func TestNewSteererRefusesBadConfig(t *testing.T) {
	for _, cfg := range []*SteererConfig{
		nil,
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.1/32")}, Interfaces: []string{"eth2"}},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"a/b"}},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth2"}, Markers: netpulse.Markers{RouteProtocol: uint8(ProtocolKernel)}},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth2"}, Buffer: -1},
		{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth2"}, Coalesce: -time.Millisecond},
	} {
		require.ErrorIs(t, cfg.Validate(), os.ErrInvalid)
		_, err := OpenSteerer(context.Background(), cfg)
		require.ErrorIs(t, err, os.ErrInvalid)
		var re *Error
		require.False(t, errors.As(err, &re), "a config error is no kernel error: %v", err)
	}
	ok := &SteererConfig{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth2"}}
	require.NoError(t, ok.Validate())
}

// The kernel flushes the IPv4 routes of a link set down (the Steerer's
// included, without a notification) and re-adds the prefix route when it
// comes back: the Steerer follows both.
func TestSteererFollowsKernelChanges(t *testing.T) {
	t.Parallel()
	c := newCIPLab(t, false, false)
	before := c.routes(t)
	st := c.steerer(t)
	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead))
	nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	waitFor(t, 10*time.Second, "kernel lookup names eth2", func() bool { return c.kernelOut(t) == c.eth2 })

	require.NoError(t, c.node.SetDown("eth2"))
	ev := nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth3 })
	// link-down if the link notification came first, removed if the
	// routes' deletion did.
	require.Contains(t, []netpulse.Reason{netpulse.ReasonLinkDown, netpulse.ReasonRemoved}, ev.Reason, "eth2 went down under the steered traffic")
	waitFor(t, 10*time.Second, "no override left", func() bool { return len(oursIn(c.routes(t))) == 0 })

	require.NoError(t, c.node.SetUp("eth2"))
	nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth2 })
	waitFor(t, 10*time.Second, "kernel lookup names eth2 again", func() bool { return c.kernelOut(t) == c.eth2 })
	require.Len(t, oursIn(c.routes(t)), 2)

	st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictAlive))
	nextEvent(t, st, func(e *SteerEvent) bool { return e.Interface.Index == c.eth3 })
	// The kernel re-added eth2's prefix route after eth3's: same routes,
	// kernel order aside.
	waitFor(t, 10*time.Second, "no override left", func() bool { return len(oursIn(c.routes(t))) == 0 })
	// (IPv6 addrconf puts eth2's link-local route back a little later.)
	waitFor(t, 10*time.Second, "the same routes as before", func() bool {
		after := c.routes(t)
		if len(after) != len(before) {
			return false
		}
		for _, r := range before {
			if !slices.ContainsFunc(after, func(x Route) bool { return x.Equal(&r) }) {
				return false
			}
		}
		return true
	})
}
