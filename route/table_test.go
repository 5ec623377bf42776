package route

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func dev(idx int, flags NexthopFlags) []Nexthop {
	return []Nexthop{{Interface: netpulse.Interface{Index: idx}, Flags: flags, Weight: 1}}
}

func testTable() *Table {
	t := NewTable()
	t.SetLink(Link{Interface: netpulse.Interface{Index: 3, Name: "eth3"}, Up: true, Carrier: true})
	t.SetLink(Link{Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Up: true, Carrier: true})
	t.AddAddress(Address{Prefix: pfx("198.18.10.3/24"), Interface: netpulse.Interface{Index: 3}})
	t.AddAddress(Address{Prefix: pfx("198.18.10.2/24"), Interface: netpulse.Interface{Index: 2}})
	return t
}

func unicast(dst string, metric uint32, hops []Nexthop) Route {
	return Route{Dst: pfx(dst), Table: TableMain, Metric: metric, Type: TypeUnicast, Protocol: ProtocolKernel, Nexthops: hops}
}

func TestLookupKernelOrder(t *testing.T) {
	tb := testTable()
	// eth3 activated first: the kernel uses it although eth2 is equal.
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, 0)))
	tb.Add(unicast("198.18.10.0/24", 0, dev(2, 0)))
	r, ok := tb.Lookup(addr("198.18.10.100"))
	require.True(t, ok)
	require.Equal(t, 3, r.Interface().Index)
	require.Equal(t, "eth3", r.Interface().Name)

	// Linkdown alone: still used, as the kernel does.
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, FlagLinkDown)))
	r, _ = tb.Lookup(addr("198.18.10.100"))
	require.Equal(t, 3, r.Interface().Index)
	// Dead: skipped.
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, FlagLinkDown|FlagDead)))
	r, _ = tb.Lookup(addr("198.18.10.100"))
	require.Equal(t, 2, r.Interface().Index)

	// A lower metric wins regardless of order; a more specific prefix wins
	// regardless of metric; a dead more specific prefix falls back.
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, 0)))
	tb.Add(unicast("198.18.10.0/24", 5, dev(2, 0)))
	require.Equal(t, 3, must(tb.Lookup(addr("198.18.10.1"))).Interface().Index)
	tb.Add(unicast("198.18.10.0/25", 100, dev(2, 0)))
	require.Equal(t, 2, must(tb.Lookup(addr("198.18.10.1"))).Interface().Index)
	tb.Add(unicast("198.18.10.0/25", 100, dev(2, FlagDead)))
	require.Equal(t, 3, must(tb.Lookup(addr("198.18.10.1"))).Interface().Index)

	_, ok = tb.Lookup(addr("198.18.11.1"))
	require.False(t, ok)
	require.True(t, tb.Delete(unicast("198.18.10.0/25", 100, dev(2, 0))))
	require.False(t, tb.Delete(unicast("198.18.10.0/25", 100, dev(2, 0))))
	require.Equal(t, 3, tb.Len())
}

func must(r Route, ok bool) Route {
	if !ok {
		panic("no route")
	}
	return r
}

func TestInsertPositions(t *testing.T) {
	tb := testTable()
	tb.insert(unicast("198.18.10.0/24", 0, dev(3, 0)), appendPos)
	tb.insert(unicast("198.18.10.0/24", 0, dev(2, 0)), prependPos)
	require.Equal(t, 2, tb.RoutesTo(pfx("198.18.10.0/24"))[0].Interface().Index)
	tb.insert(unicast("198.18.10.0/24", 0, dev(4, 0)), replacePos)
	rs := tb.RoutesTo(pfx("198.18.10.0/24"))
	require.Len(t, rs, 2)
	require.Equal(t, 4, rs[0].Interface().Index)
	tb.insert(unicast("198.18.10.0/24", 7, dev(5, 0)), replacePos)
	require.Len(t, tb.RoutesTo(pfx("198.18.10.0/24")), 3)
}

func TestSelectSkipsUnhealthy(t *testing.T) {
	tb := testTable()
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, 0)))
	tb.Add(unicast("198.18.10.0/24", 0, dev(2, 0)))
	dst := addr("198.18.10.100")

	// All healthy: equal routes, lowest ifindex (never the first added).
	s, err := tb.Select(dst, nil)
	require.NoError(t, err)
	require.Equal(t, 2, s.Interface.Index)
	require.Equal(t, addr("198.18.10.2"), s.Src)
	// Configured preference first.
	tb.SetPreference([]string{"eth3", "eth2"})
	s, _ = tb.Select(dst, nil)
	require.Equal(t, 3, s.Interface.Index)
	require.Equal(t, addr("198.18.10.3"), s.Src)

	// IP level down on eth3.
	h := HealthMap{3: netpulse.HealthIPDown}
	s, err = tb.Select(dst, h)
	require.NoError(t, err)
	require.Equal(t, 2, s.Interface.Index)

	// Both down: the error lists each candidate and why.
	h[2] = netpulse.HealthLinkDown
	_, err = tb.Select(dst, h)
	require.ErrorIs(t, err, ErrNoHealthyRoute)
	var nh *NoHealthyRouteError
	require.True(t, errors.As(err, &nh))
	require.Len(t, nh.Candidates, 2)
	require.Equal(t, netpulse.ReasonIPDown, nh.Candidates[0].Reason)
	require.Equal(t, netpulse.ReasonLinkDown, nh.Candidates[1].Reason)
	require.Contains(t, err.Error(), "ip-down")

	// A kernel linkdown flag counts as link down without any health.
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, FlagLinkDown)))
	s, err = tb.Select(dst, nil)
	require.NoError(t, err)
	require.Equal(t, 2, s.Interface.Index)

	// Unhealthy at the longest prefix: fall back to a shorter one.
	tb.Add(unicast("198.18.0.0/16", 0, []Nexthop{{Interface: netpulse.Interface{Index: 3}, Gateway: addr("198.18.10.1"), Weight: 1}}))
	h = HealthMap{2: netpulse.HealthIPDown}
	s, err = tb.Select(dst, h)
	require.NoError(t, err)
	require.Equal(t, 3, s.Interface.Index)
	require.Equal(t, addr("198.18.10.1"), s.Gateway)
}

func TestSelectDoesNotAllocate(t *testing.T) {
	tb := testTable()
	tb.Add(unicast("198.18.10.0/24", 0, dev(3, 0)))
	tb.Add(unicast("198.18.10.0/24", 0, dev(2, 0)))
	h := HealthMap{3: netpulse.HealthIPDown}
	dst := addr("198.18.10.100")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := tb.Select(dst, h); err != nil {
			panic(err)
		}
		if _, ok := tb.Lookup(dst); !ok {
			panic("no route")
		}
	})
	require.Zero(t, allocs)
}

func TestHalves(t *testing.T) {
	for _, c := range []struct{ p, lo, hi string }{
		{"198.18.10.0/24", "198.18.10.0/25", "198.18.10.128/25"},
		{"198.18.0.0/15", "198.18.0.0/16", "198.19.0.0/16"},
		{"198.18.10.0/31", "198.18.10.0/32", "198.18.10.1/32"},
		{"2001:db8:10::/64", "2001:db8:10::/65", "2001:db8:10:0:8000::/65"},
		{"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1"},
	} {
		lo, hi, ok := halves(pfx(c.p))
		require.True(t, ok)
		require.Equal(t, pfx(c.lo), lo, c.p)
		require.Equal(t, pfx(c.hi), hi, c.p)
	}
	_, _, ok := halves(pfx("198.18.10.1/32"))
	require.False(t, ok)
}

func TestPlan(t *testing.T) {
	tb := testTable()
	r3 := unicast("198.18.10.0/24", 0, dev(3, 0))
	r3.Src, r3.Scope = addr("198.18.10.3"), 253
	r2 := unicast("198.18.10.0/24", 0, dev(2, 0))
	r2.Src, r2.Scope = addr("198.18.10.2"), 253
	tb.Add(r3)
	tb.Add(r2)
	guarded := func(i int) bool { return i == 2 || i == 3 }
	p := pfx("198.18.10.0/24")

	pl := tb.plan(p, TableMain, HealthMap{}, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Equal(t, 3, pl.effective.Index)
	require.Empty(t, pl.want)

	h := HealthMap{3: netpulse.HealthIPDown}
	pl = tb.plan(p, TableMain, h, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Equal(t, 2, pl.effective.Index)
	require.Equal(t, netpulse.ReasonIPDown, pl.reason)
	require.Len(t, pl.want, 2)
	require.Equal(t, addr("198.18.10.2"), pl.want[0].Src)
	add, del := pl.diff()
	require.Len(t, add, 2)
	require.Empty(t, del)

	// Installed: nothing more to do; the natural choice ignores them.
	for _, r := range add {
		tb.Add(r)
	}
	pl = tb.plan(p, TableMain, h, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Equal(t, 3, pl.natural.Interface().Index)
	add, del = pl.diff()
	require.Empty(t, add)
	require.Empty(t, del)
	// Lookup now names eth2, as the kernel would.
	require.Equal(t, 2, must(tb.Lookup(addr("198.18.10.100"))).Interface().Index)

	// Recovered: remove them.
	pl = tb.plan(p, TableMain, HealthMap{}, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	add, del = pl.diff()
	require.Empty(t, add)
	require.Len(t, del, 2)
	require.Equal(t, netpulse.ReasonRecovered, eventReason(&pl, netpulse.ReasonNone))

	// An unguarded interface is never steered away from.
	pl = tb.plan(p, TableMain, h, func(i int) bool { return i == 2 }, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Empty(t, pl.want)

	// No healthy alternative: nothing to install.
	h[2] = netpulse.HealthLinkDown
	pl = tb.plan(p, TableMain, h, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Empty(t, pl.want)
	require.Equal(t, netpulse.ReasonRemoved, eventReason(&pl, netpulse.ReasonNone))
}

func TestHealthReason(t *testing.T) {
	for h, want := range map[netpulse.Health]netpulse.Reason{
		netpulse.HealthUnknown:  netpulse.ReasonNone,
		netpulse.HealthUp:       netpulse.ReasonNone,
		netpulse.HealthLinkDown: netpulse.ReasonLinkDown,
		netpulse.HealthIPDown:   netpulse.ReasonIPDown,
		netpulse.HealthDisabled: netpulse.ReasonDisabled,
	} {
		require.Equal(t, want, healthReason(h), "%v", h)
		require.Equal(t, want == netpulse.ReasonNone, healthy(h), "%v", h)
	}
	// A disabled interface is avoided like a failed one.
	tb := NewTable()
	for _, idx := range []int{3, 2} {
		tb.SetLink(Link{Interface: netpulse.Interface{Index: idx, Name: fmt.Sprintf("eth%d", idx)}, Up: true, Carrier: true})
		tb.Add(Route{Dst: netip.MustParsePrefix("198.18.10.0/24"), Table: TableMain, Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}})
	}
	s, err := tb.Select(netip.MustParseAddr("198.18.10.1"), HealthMap{2: netpulse.HealthDisabled})
	require.NoError(t, err)
	require.Equal(t, 3, s.Interface.Index)
	_, err = tb.Select(netip.MustParseAddr("198.18.10.1"), HealthMap{2: netpulse.HealthDisabled, 3: netpulse.HealthDisabled})
	var nh *NoHealthyRouteError
	require.ErrorAs(t, err, &nh)
	require.Equal(t, netpulse.ReasonDisabled, nh.Candidates[0].Reason)
}

func TestPlanMultipath(t *testing.T) {
	tb := testTable()
	mp := unicast("198.18.20.0/24", 0, []Nexthop{
		{Interface: netpulse.Interface{Index: 3}, Gateway: addr("198.18.10.1"), Weight: 1},
		{Interface: netpulse.Interface{Index: 2}, Gateway: addr("198.18.10.1"), Weight: 2},
	})
	tb.Add(mp)
	guarded := func(i int) bool { return i == 2 || i == 3 }
	p := pfx("198.18.20.0/24")
	pl := tb.plan(p, TableMain, HealthMap{}, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Empty(t, pl.want)
	pl = tb.plan(p, TableMain, HealthMap{3: netpulse.HealthIPDown}, guarded, Protocol(netpulse.DefaultRouteProtocol), netpulse.DefaultRouteMetric)
	require.Equal(t, netpulse.ReasonIPDown, pl.reason)
	require.Len(t, pl.want, 2)
	require.Len(t, pl.want[0].Nexthops, 1, "only the healthy hop")
	require.Equal(t, 2, pl.want[0].Nexthops[0].Interface.Index)
	require.Equal(t, 2, pl.want[0].Nexthops[0].Weight)
	require.Equal(t, 2, pl.effective.Index)
}
