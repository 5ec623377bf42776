//go:build linux

package route

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

func TestViewFollowsNotifications(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node, peer := pr.Node, pr.Peer
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer v.Close()
	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := v.Subscribe(subCtx)

	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("198.18.10.2/24")))
	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("2001:db8:10::2/64")))
	idx, err := node.Index("eth2")
	require.NoError(t, err)
	// The addresses and their prefix routes are told, in one event or in
	// several.
	var seen ViewEvent
	for timeout := time.After(10 * time.Second); !seen.Addresses || !seen.Routes; {
		select {
		case ev := <-ch:
			ve, ok := ev.(*ViewEvent)
			require.True(t, ok, "%T", ev)
			require.False(t, ve.Time.IsZero())
			require.True(t, ve.Routes || ve.Links || ve.Addresses)
			seen.Routes, seen.Addresses = seen.Routes || ve.Routes, seen.Addresses || ve.Addresses
		case <-timeout:
			t.Fatalf("changes not notified: %+v", seen)
		}
	}
	waitFor(t, 10*time.Second, "connected route and address seen", func() bool {
		r, ok := v.Lookup(netip.MustParseAddr("198.18.10.9"))
		r6, ok6 := v.Lookup(netip.MustParseAddr("2001:db8:10::9"))
		return ok && ok6 && r.Interface().Index == idx && r.Interface().Name == "eth2" &&
			r6.Interface().Index == idx && len(v.Addresses(idx)) >= 2
	})
	s, err := v.Select(netip.MustParseAddr("198.18.10.9"), nil)
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddr("198.18.10.2"), s.Src)

	// Carrier loss changes nexthop flags without a route notification:
	// the link notification makes the view dump again.
	require.NoError(t, peer.SetDown("p2"))
	waitFor(t, 10*time.Second, "linkdown flag seen", func() bool {
		r, ok := v.Lookup(netip.MustParseAddr("198.18.10.9"))
		return ok && r.Nexthops[0].Flags.LinkDown()
	})
	// Admin down flushes the IPv4 routes of the link silently.
	require.NoError(t, node.SetDown("eth2"))
	waitFor(t, 10*time.Second, "IPv4 routes of a downed link gone", func() bool {
		_, ok := v.Lookup(netip.MustParseAddr("198.18.10.9"))
		return !ok
	})
	require.NoError(t, v.Close())
	require.NoError(t, v.Close())
	for range ch {
		// drain the pending value; the loop ends because Close closed ch
	}
}

func TestViewRecoversFromOverrun(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{
		{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.19.0.1/24")}}}})
	node := pr.Node
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD(), ReadBuffer: 2304})
	require.NoError(t, err)
	defer v.Close()

	// Churn faster than the tiny buffer can hold.
	for i := range 3000 {
		require.NoError(t, node.AddRoute(netlab.Route{
			Dst: netip.MustParsePrefix(fmt.Sprintf("198.18.%d.%d/32", i/256, i%256)), Dev: "eth2", Metric: uint32(i % 7),
		}))
	}
	want := freshRoutes(t, node)
	require.GreaterOrEqual(t, len(want), 3000)
	deadline := time.Now().Add(20 * time.Second)
	for !routesEqual(want, v.Routes()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := v.Routes()
	if !routesEqual(want, got) {
		t.Logf("view %d routes, fresh %d, snapshot %+v", len(got), len(want), v.Snapshot())
		for i := range min(len(got), len(want)) {
			if !got[i].Equal(&want[i]) {
				t.Fatalf("first difference at %d: view %v, kernel %v", i, got[i], want[i])
			}
		}
		t.FailNow()
	}
	snap := v.Snapshot()
	require.Positive(t, snap.Overruns, "the churn did not overrun a 2304-byte buffer")
	require.GreaterOrEqual(t, snap.Dumps, uint64(2))
	t.Logf("snapshot after churn: %+v", snap)
}
