package route

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// The tracked prefixes of an interface stay equal to a fresh walk through
// random adds, deletes, syncs and carrier changes; setCarrier sets and
// clears the flags of exactly the nexthops through the interface.
func TestTrackedInterfacesFollowChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tb := NewTable()
	route := func() Route {
		p := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", rng.IntN(20)))
		if rng.IntN(2) == 0 {
			p = netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/48", rng.IntN(20)))
		}
		r := Route{Dst: p, Table: TableMain, Metric: uint32(rng.IntN(2)), Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: 1 + rng.IntN(3)}, Weight: 1}}}
		if rng.IntN(5) == 0 {
			r.Nexthops = append(r.Nexthops, Nexthop{Interface: netpulse.Interface{Index: 1 + rng.IntN(3)}, Weight: 2})
		}
		return r
	}
	walk := func(idx int) map[netip.Prefix]int32 {
		m := map[netip.Prefix]int32{}
		for _, r := range tb.Routes() {
			if usesInterface(&r, idx) {
				m[r.Dst]++
			}
		}
		return m
	}
	for i := range 3000 {
		switch op := rng.IntN(10); {
		case op < 5:
			tb.insert(route(), position(rng.IntN(3)), rng.IntN(2) == 0)
		case op < 8:
			tb.Delete(route())
		case op < 9:
			idx := 1 + rng.IntN(3)
			var krs []Route
			for range rng.IntN(4) {
				r := route()
				r.Nexthops = []Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}
				krs = append(krs, r)
			}
			tb.syncInterfaces(map[int]bool{idx: true}, krs)
			for _, r := range tb.Routes() {
				if usesInterface(&r, idx) {
					require.Contains(t, krs, r, "sync kept a route the kernel does not have")
				}
			}
		default:
			idx := 1 + rng.IntN(3)
			carrier := rng.IntN(2) == 0
			tb.setCarrier(idx, carrier, true, false)
			for _, r := range tb.Routes() {
				for _, n := range r.Nexthops {
					if n.Interface.Index != idx {
						continue
					}
					require.Equal(t, !carrier, n.Flags.LinkDown(), "%v", r)
					require.Equal(t, !carrier && r.Dst.Addr().Is4(), n.Flags.Dead(), "%v", r)
				}
			}
		}
		if i == 100 {
			tb.track(2) // tracking starts late for one interface
		}
		for idx := range tb.tracked {
			require.Equal(t, walk(idx), tb.track(idx), "interface %d after step %d", idx, i)
		}
		if i == 10 {
			tb.track(1)
		}
		n := 0
		for range tb.Routes() {
			n++
		}
		require.Equal(t, n, tb.Len())
	}
	require.Len(t, tb.tracked, 3, "setCarrier and syncInterfaces track what they touch")
}

// A deleted interface loses its routes and its tracking entry; the other
// interfaces stay tracked and current.
func TestDeleteInterfaceForgetsItsTracking(t *testing.T) {
	tb := NewTable()
	for i, idx := range []int{1, 2, 2} {
		tb.insert(Route{Dst: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", i)), Table: TableMain, Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}}, appendPos)
	}
	tb.track(1)
	require.Len(t, tb.track(2), 2)
	for range 100 {
		idx := 10
		tb.insert(Route{Dst: netip.MustParsePrefix("198.18.50.0/24"), Table: TableMain, Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}}, appendPos)
		require.True(t, tb.deleteInterface(idx))
		require.False(t, tb.deleteInterface(idx+1), "no route through it")
	}
	require.Len(t, tb.tracked, 2, "deleted interfaces are not tracked any more")
	require.True(t, tb.deleteInterface(2))
	require.Equal(t, 1, tb.Len())
	require.Equal(t, map[netip.Prefix]int32{netip.MustParsePrefix("198.18.0.0/24"): 1}, tb.track(1))
	require.NotContains(t, tb.tracked, 2)
}
