package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
)

// fakeSetter records the evidence a feed applies, as "5 link up ip down".
type fakeSetter struct {
	mu  sync.Mutex
	got []string
}

func (f *fakeSetter) Observe(ev netpulse.Evidence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fmt.Sprintf("%d link %v ip %v", ev.Interface.Index, ev.Link, ev.IP.State()))
}

func (f *fakeSetter) take() []string {
	synctest.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

// TestFeed runs the daemon's feeds over one health Monitor: each Steerer
// (or engine) hears only the interfaces it steers by, starts with what is
// known, and hears nothing once its feed is stopped (a subnet removed at a
// reload); an IP verdict follows the name across a re-creation; a dead
// verdict over targets that never answered steers nothing.
func TestFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := linkmontest.New(linkmontest.Link(5, "eth3", true), linkmontest.Link(6, "eth2", true))
		defer links.Close()
		probes := ipmontest.New(nil)
		defer probes.Close()
		gw3 := ipmon.Target{Addr: netip.MustParseAddr("198.18.10.100"), Interface: "eth3"}
		gw2 := ipmon.Target{Addr: netip.MustParseAddr("198.18.10.101"), Interface: "eth2"}
		require.NoError(t, probes.Add(gw3))
		require.NoError(t, probes.Add(gw2))
		mon, err := health.New(t.Context(), &health.Config{Links: links, Probes: probes})
		require.NoError(t, err)
		e := &engine{health: mon}
		defer mon.Close() // ends every feed

		s1 := &fakeSetter{}
		ctx1, stop1 := context.WithCancel(context.Background())
		require.NoError(t, e.feed(ctx1, s1, []string{"eth3", "eth2"}))
		got := s1.take()
		slices.Sort(got)
		require.Equal(t, []string{"5 link up ip unknown", "6 link up ip unknown"}, got)

		require.NoError(t, probes.Set(gw3, ipmon.TargetUp, 0))
		require.Equal(t, []string{"5 link up ip up"}, s1.take())
		require.NoError(t, probes.Set(gw3, ipmon.TargetDown, 0))
		require.NoError(t, probes.Set(gw2, ipmon.TargetUnverified, 0))
		require.Equal(t, []string{"5 link up ip down", "6 link up ip unknown"}, s1.take(),
			"an unverified verdict is unknown, not down")

		// eth3 re-created as index 9: its last IP state follows the new index.
		require.NoError(t, links.Remove("eth3"))
		require.Equal(t, []string{"0 link down ip down"}, s1.take())
		links.Set(linkmontest.Link(9, "eth3", true))
		require.Equal(t, []string{"9 link up ip down"}, s1.take())

		// A feed started later starts with everything known; one for eth5
		// hears nothing of eth3 and eth2.
		s2, s3 := &fakeSetter{}, &fakeSetter{}
		require.NoError(t, e.feed(context.Background(), s2, []string{"eth3", "eth2"}))
		require.NoError(t, e.feed(context.Background(), s3, []string{"eth5"}))
		got = s2.take()
		slices.Sort(got)
		require.Equal(t, []string{"6 link up ip unknown", "9 link up ip down"}, got)
		require.Empty(t, s3.take())

		// Carrier loss reaches the running feeds; a stopped one hears
		// nothing more.
		s1.take()
		stop1()
		synctest.Wait()
		require.NoError(t, links.SetCarrier("eth3", false))
		require.Empty(t, s1.take())
		require.Equal(t, []string{"9 link down ip down"}, s2.take())
		links.Set(linkmontest.Link(11, "eth5", true))
		require.Equal(t, []string{"11 link up ip unknown"}, s3.take())
		require.Empty(t, s2.take())

		// A group or subnet started once the Monitor is closed is an error,
		// not a feed that never runs.
		require.NoError(t, mon.Close())
		require.ErrorIs(t, e.feed(context.Background(), &fakeSetter{}, []string{"eth3"}), net.ErrClosed)
	})
}
