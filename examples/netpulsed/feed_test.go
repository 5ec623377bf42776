package main

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
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
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

func linkEv(index int, name string, present, carrier bool) *linkmon.LinkEvent {
	return &linkmon.LinkEvent{State: linkmon.State{Index: index, Name: name, Present: present, Carrier: carrier, AdminUp: true}}
}

func verdict(iface string, v netpulse.Verdict, targets ...ipmon.TargetState) *ipmon.VerdictEvent {
	ev := &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: iface}, Verdict: v}
	for i, s := range targets {
		ev.Evidence = append(ev.Evidence, ipmon.TargetEvidence{Addr: netip.AddrFrom4([4]byte{198, 18, 10, byte(100 + i)}), State: s})
	}
	return ev
}

// TestHealthFeed runs a sequence through the daemon's health glue: an IP
// verdict about a name is applied by the index the link events gave it,
// again when the link is re-created under a new index, and to a Steerer
// added later; a dead verdict over targets that never answered steers
// nothing (unverified is no evidence).
func TestHealthFeed(t *testing.T) {
	f := newHealthFeed()
	s1 := &fakeSetter{}
	f.add(s1, []string{"eth3", "eth2"})
	require.Empty(t, s1.take())

	links := make(chan netpulse.Event)
	ips := make(chan netpulse.Event)
	done := make(chan struct{})
	go func() { f.run(links, ips); close(done) }()
	// barrier returns once every event sent before was applied: the feed
	// takes the next event only after the previous one, and a watcher
	// condition event is applied to nothing.
	barrier := func() { links <- &netpulse.ConditionEvent{} }

	// The verdict comes before the link is known: kept, applied with it.
	ips <- verdict("eth3", netpulse.VerdictDead, ipmon.TargetDown)
	links <- linkEv(5, "eth3", true, true)
	links <- linkEv(6, "eth2", true, true)
	ips <- verdict("eth2", netpulse.VerdictUnverified, ipmon.TargetUnverified)
	ips <- verdict("eth2", netpulse.VerdictAlive, ipmon.TargetUp)
	barrier()
	require.Equal(t, []string{"5 link up ip down", "6 link up ip unknown", "6 link up ip unknown", "6 link up ip up"}, s1.take(),
		"an unverified verdict is unknown, not down")

	// eth3 re-created as index 9: its last IP state follows the new index.
	links <- linkEv(5, "eth3", false, false)
	links <- linkEv(9, "eth3", true, true)
	ips <- verdict("eth2", netpulse.VerdictAlive, ipmon.TargetUp)
	barrier()
	require.Equal(t, []string{"5 link unknown ip down", "9 link up ip down", "6 link up ip up"}, s1.take())

	// A Steerer added later starts with everything known.
	s2 := &fakeSetter{}
	f.add(s2, []string{"eth3", "eth2"})
	s3 := &fakeSetter{} // steers by eth5 only: hears nothing of eth3 and eth2
	f.add(s3, []string{"eth5"})
	got := s2.take()
	slices.Sort(got)
	require.Equal(t, []string{"6 link up ip up", "9 link up ip down"}, got)

	// Carrier loss reaches both; a removed one gets nothing more.
	f.remove(s1)
	links <- linkEv(9, "eth3", true, false)
	ips <- verdict("eth2", netpulse.VerdictAlive, ipmon.TargetUp)
	barrier()
	require.Empty(t, s1.take())
	require.Equal(t, []string{"9 link down ip down", "6 link up ip up"}, s2.take())
	links <- linkEv(11, "eth5", true, true)
	barrier()
	require.Equal(t, []string{"11 link up ip unknown"}, s3.take())
	require.Empty(t, s2.take())

	close(links)
	close(ips)
	<-done
}
