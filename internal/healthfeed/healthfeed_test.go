package healthfeed_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/healthfeed"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call is one piece of evidence observed: the interface's index and its
// link and IP states.
type call struct {
	index    int
	link, ip netpulse.State
}

type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) Observe(ev netpulse.Evidence) {
	r.mu.Lock()
	r.calls = append(r.calls, call{ev.Interface.Index, ev.Link, ev.IP.State()})
	r.mu.Unlock()
}

func TestStates(t *testing.T) {
	require.Equal(t, netpulse.StateUp, healthfeed.LinkState(linkmon.State{Present: true, Carrier: true, AdminUp: true}))
	require.Equal(t, netpulse.StateDown, healthfeed.LinkState(linkmon.State{Present: true, AdminUp: true}))
	require.Equal(t, netpulse.StateDown, healthfeed.LinkState(linkmon.State{Present: true, Carrier: true}), "admin down")
	require.Equal(t, netpulse.StateUnknown, healthfeed.LinkState(linkmon.State{}), "gone")
}

// deadEvent is a dead verdict with a target that answered and stopped: a
// dead path.
func deadEvent(ifc string) ipmon.Event {
	return ipmon.Event{Kind: ipmon.VerdictChanged, Interface: ifc, Verdict: ipmon.VerdictDead,
		Evidence: []ipmon.Evidence{{Addr: netip.MustParseAddr("198.18.10.100"), State: ipmon.Down}}}
}

// unverifiedEvent is a dead verdict over a target that never answered.
func unverifiedEvent(ifc string) ipmon.Event {
	return ipmon.Event{Kind: ipmon.VerdictChanged, Interface: ifc, Verdict: ipmon.VerdictDead,
		Evidence: []ipmon.Evidence{{Addr: netip.MustParseAddr("198.18.10.99"), State: ipmon.Unverified}}}
}

// TestEventIPState: one meaning of dead, failover's: only a target that
// answered and stopped makes a dead path; targets that never answered are
// no evidence (#11.5).
func TestEventIPState(t *testing.T) {
	for _, c := range []struct {
		name string
		ev   ipmon.Event
		want netpulse.State
	}{
		{"alive", ipmon.Event{Kind: ipmon.VerdictChanged, Verdict: ipmon.VerdictAlive}, netpulse.StateUp},
		{"dead, a target down", deadEvent("eth3"), netpulse.StateDown},
		{"dead, every target unverified", unverifiedEvent("eth3"), netpulse.StateUnknown},
		{"dead, one down and one unverified", ipmon.Event{Kind: ipmon.VerdictChanged, Verdict: ipmon.VerdictDead,
			Evidence: append(unverifiedEvent("").Evidence, deadEvent("").Evidence...)}, netpulse.StateDown},
		{"dead without evidence", ipmon.Event{Kind: ipmon.VerdictChanged, Verdict: ipmon.VerdictDead}, netpulse.StateUnknown},
		{"unknown", ipmon.Event{Kind: ipmon.VerdictChanged, Verdict: ipmon.VerdictUnknown}, netpulse.StateUnknown},
	} {
		st, ok := healthfeed.EventIPState(c.ev)
		require.True(t, ok, c.name)
		require.Equal(t, c.want, st, c.name)
	}
	_, ok := healthfeed.EventIPState(ipmon.Event{Kind: ipmon.TargetChanged, State: ipmon.Down})
	require.False(t, ok, "a target change is no verdict")
}

// TestRunUnverifiedDoesNotSteer: the sequence routeguard saw (#11.5): eth3's
// only target never answers and its verdict turns dead, eth2's target
// answers. eth3 must not be set down at any point; when its target later
// answers and then stops, it is.
func TestRunUnverifiedDoesNotSteer(t *testing.T) {
	links := make(chan linkmon.Event)
	ips := make(chan ipmon.Event)
	var r recorder
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	links <- linkmon.Event{State: linkmon.State{Index: 3, Name: "eth3", Present: true, Carrier: true, AdminUp: true}}
	links <- linkmon.Event{State: linkmon.State{Index: 2, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth2", Verdict: ipmon.VerdictAlive}
	ips <- unverifiedEvent("eth3")
	ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth3", Verdict: ipmon.VerdictAlive}
	ips <- deadEvent("eth3")
	close(links)
	close(ips)
	<-done
	require.Equal(t, []call{
		{3, netpulse.StateUp, netpulse.StateUnknown},
		{2, netpulse.StateUp, netpulse.StateUnknown},
		{2, netpulse.StateUp, netpulse.StateUp},
		{3, netpulse.StateUp, netpulse.StateUnknown}, // unverified: reported, not acted on
		{3, netpulse.StateUp, netpulse.StateUp},
		{3, netpulse.StateUp, netpulse.StateDown}, // answered, then stopped: a dead path
	}, r.calls)
}

func TestRun(t *testing.T) {
	// Unbuffered channels and sends from one goroutine: Run handles the
	// events in exactly this order.
	links := make(chan linkmon.Event)
	ips := make(chan ipmon.Event)
	var r recorder
	var seenLinks, seenIPs int
	f := healthfeed.Feed{Setter: &r, OnLink: func(linkmon.Event) { seenLinks++ }, OnIP: func(ipmon.Event) { seenIPs++ }}
	done := make(chan struct{})
	go func() { f.Run(links, ips); close(done) }()

	// A verdict about eth3 before its link is known waits for it.
	ips <- deadEvent("eth3")
	ips <- ipmon.Event{Kind: ipmon.TargetChanged, Interface: "eth3", State: ipmon.Down}
	links <- linkmon.Event{State: linkmon.State{Index: 7, Name: "eth3", Present: true, Carrier: true, AdminUp: true}}
	links <- linkmon.Event{State: linkmon.State{Index: 7, Name: "eth3", Present: true, AdminUp: true}}
	close(links)
	close(ips)
	<-done

	require.Equal(t, 2, seenLinks)
	require.Equal(t, 2, seenIPs)
	require.Equal(t, []call{
		{7, netpulse.StateUp, netpulse.StateDown}, // with the verdict that came first
		{7, netpulse.StateDown, netpulse.StateDown},
	}, r.calls)
}

// TestRunSkipsLinkHealth: a linkmon health event is no link (its State is
// zero): it sets nothing and goes to OnLinkHealth only.
func TestRunSkipsLinkHealth(t *testing.T) {
	links := make(chan linkmon.Event, 3)
	var r recorder
	var onLink, onHealth int
	links <- linkmon.Event{State: linkmon.State{Index: 3, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	links <- linkmon.Event{Health: &linkmon.Health{Healthy: false}}
	links <- linkmon.Event{Health: &linkmon.Health{Healthy: true}}
	close(links)
	healthfeed.Feed{Setter: &r, OnLink: func(linkmon.Event) { onLink++ }, OnLinkHealth: func(linkmon.Event) { onHealth++ }}.Run(links, nil)
	require.Equal(t, []call{{3, netpulse.StateUp, netpulse.StateUnknown}}, r.calls)
	require.Equal(t, 1, onLink)
	require.Equal(t, 2, onHealth)
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
	require.Equal(t, call{3, netpulse.StateUp, netpulse.StateUp}, r.calls[1])
}

// A verdict outlives the link it was about: a link re-created under the same
// name (new index) or renamed to it gets the name's last verdict, because
// ipmon reports no change; the old name of a renamed link no longer maps to
// it.
func TestVerdictFollowsName(t *testing.T) {
	// Unbuffered channels and sends from one goroutine: Run handles the
	// events in exactly this order.
	links := make(chan linkmon.Event)
	ips := make(chan ipmon.Event)
	var r recorder
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	up := func(i int, name string) linkmon.State {
		return linkmon.State{Index: i, Name: name, Present: true, Carrier: true, AdminUp: true}
	}
	dead := deadEvent("eth2")

	links <- linkmon.Event{State: up(5, "eth2")}
	ips <- dead
	links <- linkmon.Event{State: linkmon.State{Index: 5, Name: "eth2"}, Previous: up(5, "eth2")}  // deleted
	links <- linkmon.Event{State: up(7, "eth2")}                                                   // re-created
	links <- linkmon.Event{State: up(7, "eth9"), Previous: up(7, "eth2")}                          // renamed away
	ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth2", Verdict: ipmon.VerdictAlive} // about no link now
	links <- linkmon.Event{State: up(8, "eth2")}                                                   // another eth2
	close(links)
	close(ips)
	<-done
	require.Equal(t, []call{
		{5, netpulse.StateUp, netpulse.StateUnknown}, // no verdict yet
		{5, netpulse.StateUp, netpulse.StateDown},
		{5, netpulse.StateUnknown, netpulse.StateDown}, // deleted
		{7, netpulse.StateUp, netpulse.StateDown},      // the name's last verdict
		{7, netpulse.StateUp, netpulse.StateUnknown},   // eth9 has no verdict of its own
		{8, netpulse.StateUp, netpulse.StateUp},        // the verdict that came while no eth2 existed
	}, r.calls)
}
