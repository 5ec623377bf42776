package healthfeed_test

import (
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/healthfeed"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type call struct {
	ip    bool
	index int
	st    route.State
}

type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) SetLinkState(i int, st route.State) {
	r.mu.Lock()
	r.calls = append(r.calls, call{false, i, st})
	r.mu.Unlock()
}

func (r *recorder) SetIPState(i int, st route.State) {
	r.mu.Lock()
	r.calls = append(r.calls, call{true, i, st})
	r.mu.Unlock()
}

func TestStates(t *testing.T) {
	require.Equal(t, route.StateUp, healthfeed.LinkState(linkmon.State{Present: true, Carrier: true, AdminUp: true}))
	require.Equal(t, route.StateDown, healthfeed.LinkState(linkmon.State{Present: true, AdminUp: true}))
	require.Equal(t, route.StateDown, healthfeed.LinkState(linkmon.State{Present: true, Carrier: true}), "admin down")
	require.Equal(t, route.StateUnknown, healthfeed.LinkState(linkmon.State{}), "gone")
	require.Equal(t, route.StateUp, healthfeed.IPState(ipmon.VerdictAlive))
	require.Equal(t, route.StateDown, healthfeed.IPState(ipmon.VerdictDead))
	require.Equal(t, route.StateUnknown, healthfeed.IPState(ipmon.VerdictUnknown))
}

func TestRun(t *testing.T) {
	links := make(chan linkmon.Event, 10)
	ips := make(chan ipmon.Event, 10)
	var r recorder
	var seenLinks, seenIPs int
	f := healthfeed.Feed{Setter: &r, OnLink: func(linkmon.Event) { seenLinks++ }, OnIP: func(ipmon.Event) { seenIPs++ }}

	// A verdict about eth3 before its link is known waits for it.
	ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth3", Verdict: ipmon.VerdictDead}
	ips <- ipmon.Event{Kind: ipmon.TargetChanged, Interface: "eth3", State: ipmon.Down}
	close(ips)
	done := make(chan struct{})
	go func() { f.Run(links, ips); close(done) }()
	links <- linkmon.Event{State: linkmon.State{Index: 7, Name: "eth3", Present: true, Carrier: true, AdminUp: true}}
	links <- linkmon.Event{State: linkmon.State{Index: 7, Name: "eth3", Present: true, AdminUp: true}}
	close(links)
	<-done

	require.Equal(t, 2, seenLinks)
	require.Equal(t, 2, seenIPs)
	require.Equal(t, []call{
		{false, 7, route.StateUp},
		{true, 7, route.StateDown}, // the pending verdict
		{false, 7, route.StateDown},
	}, r.calls)
}

func TestRunIPAfterLink(t *testing.T) {
	links := make(chan linkmon.Event, 1)
	ips := make(chan ipmon.Event, 1)
	var r recorder
	links <- linkmon.Event{State: linkmon.State{Index: 3, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	close(links)
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.calls) == 1 }, time.Second, time.Millisecond)
	ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth2", Verdict: ipmon.VerdictAlive}
	close(ips)
	<-done
	require.Equal(t, call{true, 3, route.StateUp}, r.calls[1])
}
