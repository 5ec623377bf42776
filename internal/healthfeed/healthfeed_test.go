package healthfeed_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
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
}

// deadEvent is a dead verdict with a target that answered and stopped: a
// dead path.
func deadEvent(ifc string) *ipmon.VerdictEvent {
	return &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: ifc}, Verdict: netpulse.VerdictDead,
		Evidence: []ipmon.Evidence{{Addr: netip.MustParseAddr("198.18.10.100"), State: ipmon.TargetDown}}}
}

// unverifiedEvent is the verdict of a rule failing on a target that never
// answered.
func unverifiedEvent(ifc string) *ipmon.VerdictEvent {
	return &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: ifc}, Verdict: netpulse.VerdictUnverified,
		Evidence: []ipmon.Evidence{{Addr: netip.MustParseAddr("198.18.10.99"), State: ipmon.TargetUnverified}}}
}

// TestEventIPState: one meaning of dead, failover's: only a target that
// answered and stopped makes a dead path; targets that never answered are
// no evidence (#11.5).
func TestEventIPState(t *testing.T) {
	for _, c := range []struct {
		name string
		ev   netpulse.Event
		want route.State
	}{
		{"alive", &ipmon.VerdictEvent{Verdict: netpulse.VerdictAlive}, route.StateUp},
		{"dead, a target down", deadEvent("eth3"), route.StateDown},
		{"unverified, every target unverified", unverifiedEvent("eth3"), route.StateUnknown},
		{"dead, one down and one unverified", &ipmon.VerdictEvent{Verdict: netpulse.VerdictDead,
			Evidence: append(unverifiedEvent("").Evidence, deadEvent("").Evidence...)}, route.StateDown},
		{"unverified without evidence", &ipmon.VerdictEvent{Verdict: netpulse.VerdictUnverified}, route.StateUnknown},
		{"unknown", &ipmon.VerdictEvent{Verdict: netpulse.VerdictUnknown}, route.StateUnknown},
	} {
		st, ok := healthfeed.EventIPState(c.ev)
		require.True(t, ok, c.name)
		require.Equal(t, c.want, st, c.name)
	}
	_, ok := healthfeed.EventIPState(&ipmon.TargetEvent{State: ipmon.TargetDown})
	require.False(t, ok, "a target change is no verdict")
}

// TestRunUnverifiedDoesNotSteer: the sequence routeguard saw (#11.5): eth3's
// only target never answers and its verdict turns dead, eth2's target
// answers. eth3 must not be set down at any point; when its target later
// answers and then stops, it is.
func TestRunUnverifiedDoesNotSteer(t *testing.T) {
	links := make(chan netpulse.Event)
	ips := make(chan netpulse.Event)
	var r recorder
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 3, Name: "eth3", Present: true, Carrier: true, AdminUp: true}}
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 2, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	ips <- &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: "eth2"}, Verdict: netpulse.VerdictAlive}
	ips <- unverifiedEvent("eth3")
	ips <- &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: "eth3"}, Verdict: netpulse.VerdictAlive}
	ips <- deadEvent("eth3")
	close(links)
	close(ips)
	<-done
	require.Equal(t, []call{
		{false, 3, route.StateUp},
		{true, 3, route.StateUnknown},
		{false, 2, route.StateUp},
		{true, 2, route.StateUnknown},
		{true, 2, route.StateUp},
		{true, 3, route.StateUnknown}, // unverified: reported, not acted on
		{true, 3, route.StateUp},
		{true, 3, route.StateDown}, // answered, then stopped: a dead path
	}, r.calls)
}

func TestRun(t *testing.T) {
	// Unbuffered channels and sends from one goroutine: Run handles the
	// events in exactly this order.
	links := make(chan netpulse.Event)
	ips := make(chan netpulse.Event)
	var r recorder
	var seenLinks, seenIPs int
	f := healthfeed.Feed{Setter: &r, OnLink: func(*linkmon.LinkEvent) { seenLinks++ }, OnIP: func(netpulse.Event) { seenIPs++ }}
	done := make(chan struct{})
	go func() { f.Run(links, ips); close(done) }()

	// A verdict about eth3 before its link is known waits for it.
	ips <- deadEvent("eth3")
	ips <- &ipmon.TargetEvent{Interface: netpulse.Interface{Name: "eth3"}, State: ipmon.TargetDown}
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 7, Name: "eth3", Present: true, Carrier: true, AdminUp: true}}
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 7, Name: "eth3", Present: true, AdminUp: true}}
	close(links)
	close(ips)
	<-done

	require.Equal(t, 2, seenLinks)
	require.Equal(t, 2, seenIPs)
	require.Equal(t, []call{
		{false, 7, route.StateUp},
		{true, 7, route.StateDown}, // the verdict that came first
		{false, 7, route.StateDown},
	}, r.calls)
}

// TestRunSkipsLinkHealth: a linkmon condition event is no link: it sets
// nothing and goes to OnLinkHealth only; a drop event sets nothing either.
func TestRunSkipsLinkHealth(t *testing.T) {
	links := make(chan netpulse.Event, 4)
	var r recorder
	var onLink, onHealth int
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 3, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	links <- &netpulse.ConditionEvent{Condition: netpulse.Condition{Err: errors.New("receive")}}
	links <- &netpulse.ConditionEvent{Condition: netpulse.Condition{OK: true}}
	links <- &netpulse.DropEvent{Count: 1}
	close(links)
	healthfeed.Feed{Setter: &r, OnLink: func(*linkmon.LinkEvent) { onLink++ }, OnLinkHealth: func(*netpulse.ConditionEvent) { onHealth++ }}.Run(links, nil)
	require.Equal(t, []call{{false, 3, route.StateUp}, {true, 3, route.StateUnknown}}, r.calls)
	require.Equal(t, 1, onLink)
	require.Equal(t, 2, onHealth)
}

func TestRunIPAfterLink(t *testing.T) {
	links := make(chan netpulse.Event, 1)
	ips := make(chan netpulse.Event, 1)
	var r recorder
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 3, Name: "eth2", Present: true, Carrier: true, AdminUp: true}}
	close(links)
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.calls) == 2 }, time.Second, time.Millisecond)
	ips <- &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: "eth2"}, Verdict: netpulse.VerdictAlive}
	close(ips)
	<-done
	require.Equal(t, call{true, 3, route.StateUp}, r.calls[2])
}

// A verdict outlives the link it was about: a link re-created under the same
// name (new index) or renamed to it gets the name's last verdict, because
// ipmon reports no change; the old name of a renamed link no longer maps to
// it.
func TestVerdictFollowsName(t *testing.T) {
	// Unbuffered channels and sends from one goroutine: Run handles the
	// events in exactly this order.
	links := make(chan netpulse.Event)
	ips := make(chan netpulse.Event)
	var r recorder
	done := make(chan struct{})
	go func() { healthfeed.Feed{Setter: &r}.Run(links, ips); close(done) }()
	up := func(i int, name string) linkmon.State {
		return linkmon.State{Index: i, Name: name, Present: true, Carrier: true, AdminUp: true}
	}
	dead := deadEvent("eth2")

	links <- &linkmon.LinkEvent{State: up(5, "eth2")}
	ips <- dead
	links <- &linkmon.LinkEvent{State: linkmon.State{Index: 5, Name: "eth2"}, Previous: up(5, "eth2")}      // deleted
	links <- &linkmon.LinkEvent{State: up(7, "eth2")}                                                       // re-created
	links <- &linkmon.LinkEvent{State: up(7, "eth9"), Previous: up(7, "eth2")}                              // renamed away
	ips <- &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: "eth2"}, Verdict: netpulse.VerdictAlive} // about no link now
	links <- &linkmon.LinkEvent{State: up(8, "eth2")}                                                       // another eth2
	close(links)
	close(ips)
	<-done
	require.Equal(t, []call{
		{false, 5, route.StateUp},
		{true, 5, route.StateUnknown}, // no verdict yet
		{true, 5, route.StateDown},
		{false, 5, route.StateUnknown},
		{false, 7, route.StateUp},
		{true, 7, route.StateDown}, // the name's last verdict
		{false, 7, route.StateUp},
		{true, 7, route.StateUnknown}, // eth9 has no verdict of its own
		{false, 8, route.StateUp},
		{true, 8, route.StateUp}, // the verdict that came while no eth2 existed
	}, r.calls)
}
