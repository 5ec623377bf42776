//go:build linux

package route

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A carrier change, an admin change, an address removal and a link
// deletion are followed by reading only the routes of the interface
// concerned (no full dump), and the view then equals a fresh dump; an MTU
// change reads nothing.
func TestViewRefreshesOnlyTheChangedInterface(t *testing.T) {
	t.Parallel()
	var links []netlab.PairLink
	for i, l := range []string{"big", "flap", "gone"} {
		links = append(links, netlab.PairLink{Name: l, Addrs: []netip.Prefix{
			netip.MustParsePrefix(fmt.Sprintf("198.18.%d.1/24", i)), netip.MustParsePrefix(fmt.Sprintf("2001:db8:%d::1/64", i))}})
	}
	pr := netlab.NewPair(t, netlab.PairOptions{Links: links})
	node, peer := pr.Node, pr.Peer
	for i := range 500 {
		require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix(fmt.Sprintf("198.19.%d.%d/32", i/256, i%256)), Dev: "big"}))
	}
	// Routes through flap, one of them with a preferred source on big.
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.100.0/24"), Dev: "flap"}))
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("2001:db8:100::/48"), Dev: "flap"}))
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.101.0/24"), Dev: "flap", Src: netip.MustParseAddr("198.18.0.1")}))
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.102.0/24"), Dev: "gone"}))

	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer v.Close()
	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := v.Subscribe(subCtx)
	same := func(what string) {
		t.Helper()
		want := freshRoutes(t, node)
		waitFor(t, 10*time.Second, what, func() bool { return routesEqual(want, v.Routes()) })
	}
	dumps := v.Snapshot().Dumps
	lookupFlags := func(a string) (NexthopFlags, bool) {
		r, ok := v.Lookup(netip.MustParseAddr(a))
		if !ok || r.Dst.Bits() == 0 {
			return 0, false
		}
		return r.Nexthops[0].Flags, true
	}

	// An MTU change is no routing change.
	c, err := node.Dial()
	require.NoError(t, err)
	defer c.Close()
	idx, err := node.Index("flap")
	require.NoError(t, err)
	before := v.Snapshot()
	require.NoError(t, c.Link.Set(&rtnetlink.LinkMessage{Index: uint32(idx), Attributes: &rtnetlink.LinkAttributes{MTU: 1400}}))
	waitFor(t, 10*time.Second, "MTU notification ignored", func() bool { return v.Snapshot().HintsIgnored > before.HintsIgnored })
	// A sleep that is the scenario: three coalescing windows in which a
	// refresh would have run if the ignored hint had caused one.
	time.Sleep(3 * DefaultCoalesce)
	require.Equal(t, before.Refreshes, v.Snapshot().Refreshes, "an MTU change made the view read routes again")

	// Carrier loss and return on flap: linkdown flags come and go.
	require.NoError(t, peer.SetDown("pflap"))
	waitFor(t, 10*time.Second, "linkdown seen", func() bool {
		f4, ok4 := lookupFlags("198.18.100.9")
		f6, ok6 := lookupFlags("2001:db8:100::9")
		return ok4 && ok6 && f4.LinkDown() && f6.LinkDown()
	})
	same("view equals the kernel after carrier loss")
	require.NoError(t, peer.SetUp("pflap"))
	waitFor(t, 10*time.Second, "linkdown gone", func() bool {
		f4, ok4 := lookupFlags("198.18.100.9")
		return ok4 && !f4.LinkDown()
	})
	same("view equals the kernel after carrier return")

	// With ignore_routes_with_linkdown the kernel reports the linkdown
	// nexthops dead too: per interface (both families), then IPv4's "all".
	for _, set := range [][]string{
		{"net/ipv4/conf/flap/ignore_routes_with_linkdown", "net/ipv6/conf/flap/ignore_routes_with_linkdown"},
		{"net/ipv4/conf/all/ignore_routes_with_linkdown"},
	} {
		for _, k := range set {
			require.NoError(t, node.Sysctl(k, "1"))
		}
		same("view equals the kernel after the sysctl change")
		require.NoError(t, peer.SetDown("pflap"))
		waitFor(t, 10*time.Second, "linkdown and dead seen", func() bool {
			f4, ok4 := lookupFlags("198.18.100.9")
			return !ok4 || (f4.LinkDown() && f4.Dead())
		})
		same(fmt.Sprintf("view equals the kernel after carrier loss with %v", set))
		require.NoError(t, peer.SetUp("pflap"))
		waitFor(t, 10*time.Second, "linkdown gone", func() bool {
			f4, ok4 := lookupFlags("198.18.100.9")
			return ok4 && !f4.LinkDown()
		})
		same("view equals the kernel after carrier return")
		for _, k := range set {
			require.NoError(t, node.Sysctl(k, "0"))
		}
	}

	// The preferred source goes away: the kernel flushes the route that
	// used it (through flap) without a route notification.
	require.NoError(t, node.DelAddr("big", netip.MustParsePrefix("198.18.0.1/24")))
	waitFor(t, 10*time.Second, "prefsrc route flushed", func() bool {
		_, ok := lookupFlags("198.18.101.9")
		return !ok
	})
	same("view equals the kernel after the address removal")

	// Admin down flushes flap's IPv4 routes silently.
	require.NoError(t, node.SetDown("flap"))
	waitFor(t, 10*time.Second, "IPv4 routes of the downed link gone", func() bool {
		_, ok := lookupFlags("198.18.100.9")
		return !ok
	})
	same("view equals the kernel after admin down")

	// A deleted link takes its routes with it.
	require.NoError(t, node.DeleteLink("gone"))
	waitFor(t, 10*time.Second, "routes of the deleted link gone", func() bool {
		_, ok := lookupFlags("198.18.102.9")
		return !ok
	})
	same("view equals the kernel after the link deletion")

	s := v.Snapshot()
	require.Equal(t, dumps, s.Dumps, "a full dump was taken: %+v", s)
	require.Positive(t, s.Refreshes)
	require.True(t, s.Condition.OK)
	require.NotEmpty(t, ch, "no change notified")
	t.Logf("snapshot %+v", s)
}

// The view works on its own copy of the namespace descriptor: the caller
// closes its descriptor at once and another namespace takes its number;
// the view still follows its namespace after replacing its socket.
func TestViewKeepsItsNamespaceWhenTheCallerClosesItsFD(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{
		{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24")}}}})
	node := pr.Node
	other, err := pr.Lab.NewNS("other")
	require.NoError(t, err)

	num, err := unix.Dup(node.FD())
	require.NoError(t, err)
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: num, ReadBuffer: 2304})
	require.NoError(t, err)
	defer v.Close()
	require.NoError(t, unix.Close(num))
	// Likely the same number, now another namespace.
	g, err := unix.Dup(other.FD())
	require.NoError(t, err)
	defer unix.Close(g)
	t.Logf("caller's fd %d closed, %d now names another namespace", num, g)

	// Overrun the tiny buffer: the view replaces its socket.
	for i := range 2000 {
		require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix(fmt.Sprintf("198.19.%d.%d/32", i/256, i%256)), Dev: "eth2"}))
	}
	waitFor(t, 20*time.Second, "overrun and resubscribe", func() bool { return v.Snapshot().Overruns > 0 })
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.99.0/24"), Dev: "eth2"}))
	waitFor(t, 20*time.Second, "route added after the resubscribe seen", func() bool {
		r, ok := v.Lookup(netip.MustParseAddr("198.18.99.1"))
		return ok && r.Dst.Bits() == 24 && r.Interface().Name == "eth2"
	})
	require.True(t, v.Snapshot().Condition.OK)
}

// A view whose notification socket breaks says so on its stream: a
// notification with Snapshot().Condition not OK (LastError set), then, once
// it replaced the socket and dumped again, one with the Condition OK again; it
// follows the kernel again afterwards.
func TestViewReportsItsHealth(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{
		{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24")}}}})
	node := pr.Node
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer v.Close()
	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := v.Subscribe(subCtx)
	seen := false
	// The failing state lasts the receive backoff (10 ms, doubling while
	// the socket keeps breaking): break it until a notification shows it.
	for try := 0; try < 8 && !seen; try++ {
		require.NoError(t, v.subConn().Close())
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case ev := <-ch:
				if ce, ok := ev.(*netpulse.ConditionEvent); ok && ce.Reason == netpulse.ReasonFailing {
					require.False(t, ce.Condition.OK)
					require.Error(t, ce.Condition.Err)
					require.True(t, !v.Snapshot().Condition.OK || v.Snapshot().Refreshes > 0)
					require.Error(t, v.Snapshot().LastError)
					seen = true
					break wait
				}
				if v.Snapshot().ReceiveErrors > uint64(try) {
					break wait
				}
			case <-timeout:
				t.Fatal("no notification after the socket broke")
			}
		}
	}
	require.True(t, seen, "never notified while failing")
	working := false
	waitFor(t, 10*time.Second, "working again, told to the subscriber", func() bool {
		select {
		case ev := <-ch:
			if ce, ok := ev.(*netpulse.ConditionEvent); ok && ce.Reason == netpulse.ReasonWorking {
				require.True(t, ce.Condition.OK)
				working = true
			}
		default:
		}
		return working && v.Snapshot().Condition.OK
	})
	require.NoError(t, node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.99.0/24"), Dev: "eth2"}))
	waitFor(t, 10*time.Second, "route added after the repair seen", func() bool {
		r, ok := v.Lookup(netip.MustParseAddr("198.18.99.1"))
		return ok && r.Dst.Bits() == 24
	})
	t.Logf("snapshot %+v", v.Snapshot())
}
