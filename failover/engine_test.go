package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	svc4 = netip.MustParsePrefix("198.18.10.50/24")
	svc6 = netip.MustParsePrefix("2001:db8:10::50/64")
)

// rig is an engine with a recording actuator and a collector of its
// events, for use inside a synctest bubble.
type rig struct {
	t   *testing.T
	e   *failover.Engine
	rec *failovertest.Recorder

	mu     sync.Mutex
	events []netpulse.Event
	done   chan struct{}
}

func newRig(t *testing.T, gc failover.GroupConfig, mod func(*failover.Config)) *rig {
	t.Helper()
	if gc.Primary == "" {
		gc.Primary, gc.Standbys = "eth3", []string{"eth2"}
	}
	if gc.Addresses == nil {
		gc.Addresses = []netip.Prefix{svc4, svc6}
	}
	r := &rig{t: t, rec: failovertest.NewRecorder(), done: make(chan struct{})}
	cfg := failover.Config{Groups: []failover.GroupConfig{gc}, Actuator: r.rec}
	if mod != nil {
		mod(&cfg)
	}
	e, err := failover.Open(context.Background(), &cfg)
	require.NoError(t, err)
	r.e = e
	sub := e.Subscribe(context.Background())
	go func() {
		defer close(r.done)
		for ev := range sub {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *rig) close() {
	require.NoError(r.t, r.e.Close())
	<-r.done
	require.NoError(r.t, r.e.Close(), "Close twice")
}

func (r *rig) link(name string, carrier bool) {
	feed(r.e).link(name, ifIndex(name), carrier)
	synctest.Wait()
}

func (r *rig) ip(name string, v netpulse.Verdict) {
	feed(r.e).ip(name, v)
	synctest.Wait()
}

func ifIndex(name string) int {
	return int(name[len(name)-1]-'0') + 10
}

// take returns and forgets the events collected so far.
func (r *rig) take() []netpulse.Event {
	synctest.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func switches(evs []netpulse.Event) []*failover.SwitchEvent {
	var out []*failover.SwitchEvent
	for _, ev := range evs {
		if s, ok := ev.(*failover.SwitchEvent); ok {
			out = append(out, s)
		}
	}
	return out
}

// healths returns the health transitions among evs (not the initial
// events a subscription starts with).
func healths(evs []netpulse.Event) []*failover.HealthEvent {
	var out []*failover.HealthEvent
	for _, ev := range evs {
		if s, ok := ev.(*failover.HealthEvent); ok && !s.Initial {
			out = append(out, s)
		}
	}
	return out
}

func (r *rig) holders() []string {
	h4, h6 := r.rec.Holders(svc4), r.rec.Holders(svc6)
	require.Equal(r.t, h4, h6, "both addresses live on the same member")
	return h4
}

func (r *rig) member(name string) failover.InterfaceStatus {
	for _, g := range r.e.Snapshot().Groups {
		for _, m := range g.Members {
			if m.Name == name {
				return m
			}
		}
	}
	r.t.Fatalf("no member %s", name)
	return failover.InterfaceStatus{}
}

// start brings every member up and waits for the initial placement.
func (r *rig) start(members ...string) {
	for _, m := range members {
		r.link(m, true)
		r.ip(m, netpulse.VerdictAlive)
	}
	require.Equal(r.t, []string{members[0]}, r.holders())
	time.Sleep(time.Second) // the initial announcements
	r.take()
	r.rec.Reset()
}

func TestHealthTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		require.Equal(t, netpulse.HealthUnknown, r.member("eth3").Health)

		type step struct {
			do      func()
			health  netpulse.Health
			failure netpulse.Failure
			reason  netpulse.Reason
		}
		lk := func(fn func(*netpulse.Evidence)) func() {
			return func() { feed(r.e).set("eth3", fn); synctest.Wait() }
		}
		linkUp := func(ev *netpulse.Evidence) { ev.Interface.Index, ev.Link = ifIndex("eth3"), netpulse.StateUp }
		adminDown := func(ev *netpulse.Evidence) { ev.Link = netpulse.StateDown }
		gone := func(ev *netpulse.Evidence) { ev.Interface.Index, ev.Link = 0, netpulse.StateDown }
		steps := []step{
			{func() { r.ip("eth3", netpulse.VerdictUnverified) }, netpulse.HealthUnknown, netpulse.FailureNone, netpulse.ReasonNone},
			{func() { r.link("eth3", true) }, netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonLinkUp},
			{func() { r.link("eth3", false) }, netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonLinkDown},
			{func() { r.link("eth3", true) }, netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonLinkUp},
			{func() { r.ip("eth3", netpulse.VerdictDead) }, netpulse.HealthIPDown, netpulse.FailureIPOnly, netpulse.ReasonIPDown},
			// Carrier lost while the IP path is dead: a link-level failure.
			{func() { r.link("eth3", false) }, netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonLinkDown},
			{func() { r.link("eth3", true) }, netpulse.HealthIPDown, netpulse.FailureIPOnly, netpulse.ReasonIPDown},
			{func() { r.ip("eth3", netpulse.VerdictAlive) }, netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonIPUp},
			{func() { require.NoError(t, r.e.Disable("eth3")); synctest.Wait() }, netpulse.HealthDisabled, netpulse.FailureNone, netpulse.ReasonDisabled},
			{func() { r.link("eth3", false) }, netpulse.HealthDisabled, netpulse.FailureLinkIP, netpulse.ReasonDisabled},
			{func() { require.NoError(t, r.e.Enable("eth3")); synctest.Wait() }, netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonEnabled},
			{lk(linkUp), netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonIPUp},
			{lk(adminDown), netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonLinkDown},
			{lk(linkUp), netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonIPUp},
			{lk(gone), netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonLinkDown},
		}
		prev := netpulse.HealthUnknown
		for i, s := range steps {
			s.do()
			m := r.member("eth3")
			require.Equal(t, s.health, m.Health, "step %d", i)
			require.Equal(t, s.failure, m.Failure, "step %d", i)
			evs := healths(r.take())
			if s.health == prev {
				require.Empty(t, evs, "step %d: no transition, no event", i)
			} else {
				require.Len(t, evs, 1, "step %d", i)
				require.Equal(t, prev, evs[0].From, "step %d", i)
				require.Equal(t, s.health, evs[0].To, "step %d", i)
				require.Equal(t, s.reason, evs[0].Reason, "step %d", i)
				require.Equal(t, s.failure, evs[0].Failure, "step %d", i)
				require.Equal(t, "eth3", evs[0].Interface.Name)
				require.Equal(t, "eth3", evs[0].Group)
				require.Equal(t, m.Reason, evs[0].Reason)
				require.Equal(t, evs[0].Time, m.Since, "the transition has a time")
			}
			prev = s.health
		}
		// IP evidence alone: alive is up, dead is ip-down.
		r.ip("eth2", netpulse.VerdictDead)
		require.Equal(t, netpulse.HealthIPDown, r.member("eth2").Health)
		r.ip("eth2", netpulse.VerdictAlive)
		require.Equal(t, netpulse.HealthUp, r.member("eth2").Health)
		require.Equal(t, netpulse.StateUnknown, r.member("eth2").Link)

		require.ErrorIs(t, r.e.Disable("eth9"), failover.ErrNotMember)
		r.e.Observe(netpulse.Evidence{Interface: netpulse.Interface{Index: 19, Name: "eth9"}, Link: netpulse.StateUp})
		synctest.Wait()
		require.Equal(t, uint64(1), r.e.Snapshot().Counters.UnknownEvidence)
	})
}

func TestDisableOnIPFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{DisableOnIPFailure: true}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.ip("eth3", netpulse.VerdictDead)
		m := r.member("eth3")
		require.Equal(t, netpulse.HealthDisabled, m.Health)
		require.True(t, m.Disabled)
		require.Equal(t, netpulse.FailureIPOnly, m.Failure)
		require.Equal(t, netpulse.ReasonIPDown, m.Reason)
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonIPDown, sw[0].Reason)
		require.Equal(t, []string{"eth2"}, r.holders())

		// The path recovers: still disabled, no failback.
		r.ip("eth3", netpulse.VerdictAlive)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, netpulse.HealthDisabled, r.member("eth3").Health)
		require.Equal(t, []string{"eth2"}, r.holders())

		// Re-enabled: up again, and auto failback after the hold-down.
		require.NoError(t, r.e.Enable("eth3"))
		synctest.Wait()
		require.Equal(t, netpulse.HealthUp, r.member("eth3").Health)
		time.Sleep(failover.DefaultHoldDown)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
	})
}

func TestInitialPlacement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		require.Empty(t, r.holders(), "nothing placed without evidence")
		require.Equal(t, failover.GroupUnknown, r.e.Snapshot().Groups[0].State)
		r.link("eth3", true)
		require.Equal(t, []string{"eth3"}, r.holders())
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonInitial, sw[0].Reason)
		require.Equal(t, "", sw[0].From.Name)
		require.Equal(t, netpulse.Interface{Index: 13, Name: "eth3"}, sw[0].To)
		require.Equal(t, "eth3", r.rec.Steered(svc4))
	})
	synctest.Test(t, func(t *testing.T) {
		// Addresses already on the standby (a restarted daemon): the engine
		// makes the initial member the only holder.
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.rec.Place("eth2", svc4, svc6)
		r.link("eth2", true)
		r.link("eth3", true)
		require.Equal(t, []string{"eth3"}, r.holders())
		require.Empty(t, r.rec.Violations())
	})
	synctest.Test(t, func(t *testing.T) {
		// The initial member stays silent: after the settle time the
		// addresses go to the first member that is up.
		r := newRig(t, failover.GroupConfig{Initial: "eth3"}, nil)
		defer r.close()
		start := time.Now()
		r.link("eth2", true)
		require.Empty(t, r.holders(), "waits for evidence about the initial member")
		time.Sleep(failover.DefaultSettle)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, failover.DefaultSettle, sw[0].Time.Sub(start))
	})
}

// TestObserveBothLevels: an Observe that changes both levels changes the
// member's health once, with no health in between (link-down straight to
// ip-down, never up); the evidence's time is the health event's
// EvidenceTime; evidence with Index 0 and the link down is a member gone.
func TestObserveBothLevels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		eth3 := netpulse.Interface{Index: 13, Name: "eth3"}
		r.e.Observe(netpulse.Evidence{Interface: eth3, Link: netpulse.StateDown, IP: netpulse.VerdictAlive})
		synctest.Wait()
		require.Equal(t, netpulse.HealthLinkDown, r.member("eth3").Health)
		r.take()
		at := time.Now().Add(-time.Millisecond)
		r.e.Observe(netpulse.Evidence{Time: at, Interface: eth3, Link: netpulse.StateUp, IP: netpulse.VerdictDead})
		synctest.Wait()
		evs := healths(r.take())
		require.Len(t, evs, 1)
		require.Equal(t, netpulse.HealthLinkDown, evs[0].From)
		require.Equal(t, netpulse.HealthIPDown, evs[0].To)
		require.Equal(t, at, evs[0].EvidenceTime)
		r.e.Observe(netpulse.Evidence{Interface: netpulse.Interface{Name: "eth3"}, Link: netpulse.StateDown, IP: netpulse.VerdictDead})
		synctest.Wait()
		m := r.member("eth3")
		require.Equal(t, netpulse.HealthLinkDown, m.Health)
		require.Equal(t, 13, m.Index, "the index last known stays")
		require.Equal(t, netpulse.StateDown, m.Link)
	})
}

func TestFailoverOnLinkDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.start("eth3", "eth2")

		lost := time.Now()
		r.e.Observe(netpulse.Evidence{Time: lost, Interface: netpulse.Interface{Index: 13, Name: "eth3"}, Link: netpulse.StateDown})
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		require.Equal(t, "eth2", r.rec.Steered(svc6))
		evs := r.take()
		sw := switches(evs)
		require.Len(t, sw, 1)
		require.Equal(t, "eth3", sw[0].From.Name)
		require.Equal(t, "eth2", sw[0].To.Name)
		require.Equal(t, netpulse.ReasonLinkDown, sw[0].Reason)
		require.Equal(t, lost, sw[0].EvidenceTime)
		require.Equal(t, time.Duration(0), sw[0].Latency, "no simulated time passes while acting")
		require.Equal(t, 1, sw[0].Attempts)
		require.Equal(t, []netip.Prefix{svc4, svc6}, sw[0].Addresses)

		// Order: add on the standby first, then remove from the failed
		// member, then steer, then the first announcement; then the
		// survivor's own addresses (SelfAnnouncer).
		var ops []string
		for _, c := range r.rec.Calls() {
			ops = append(ops, c.Op+" "+c.Interface.Name+" "+c.Address.String())
		}
		require.Equal(t, []string{
			"add eth2 " + svc4.String(), "add eth2 " + svc6.String(),
			"remove eth3 " + svc4.String(), "remove eth3 " + svc6.String(),
			"steer eth2 invalid Prefix", "announce eth2 invalid Prefix",
			"announce-own eth2 invalid Prefix",
		}, ops)

		// The other four rounds follow, 200 ms apart.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		var ann []time.Duration
		for _, c := range r.rec.Calls() {
			if c.Op == failover.OpAnnounce {
				require.Equal(t, "eth2", c.Interface.Name)
				require.Equal(t, []netip.Prefix{svc4, svc6}, c.Addresses)
				ann = append(ann, c.Time.Sub(lost))
			}
		}
		require.Equal(t, []time.Duration{0, 200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond, 800 * time.Millisecond}, ann)
		st := r.e.Snapshot()
		require.Equal(t, uint64(10), st.Counters.Announcements, "five for the initial placement, five for the move")
		require.Equal(t, "eth2", st.Groups[0].Active)
		require.Equal(t, netpulse.ReasonLinkDown, st.Groups[0].LastReason)
		require.Empty(t, r.rec.Violations())
	})
}

func TestFailoverOnIPDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{AnnounceCount: 2, AnnounceInterval: time.Second}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.ip("eth3", netpulse.VerdictDead)
		require.Equal(t, []string{"eth2"}, r.holders())
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonIPDown, sw[0].Reason)
		m := r.member("eth3")
		require.Equal(t, netpulse.FailureIPOnly, m.Failure)
		require.Equal(t, netpulse.StateUp, m.Link)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		n := 0
		for _, c := range r.rec.Calls() {
			if c.Op == failover.OpAnnounce {
				n++
			}
		}
		require.Equal(t, 2, n, "AnnounceCount rounds")
	})
}

func TestStandbyChosenByOrderAndHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Primary: "eth3", Standbys: []string{"eth2", "eth4"}}, nil)
		defer r.close()
		r.start("eth3", "eth2", "eth4")

		// The first standby's IP path dies while it is idle: reported, and
		// nothing moves.
		r.ip("eth2", netpulse.VerdictDead)
		evs := r.take()
		require.Empty(t, switches(evs))
		h := healths(evs)
		require.Len(t, h, 1)
		require.Equal(t, "eth2", h[0].Interface.Name)
		require.Equal(t, netpulse.HealthIPDown, h[0].To)
		require.Equal(t, netpulse.FailureIPOnly, h[0].Failure)
		require.Equal(t, []string{"eth3"}, r.holders())
		require.Equal(t, netpulse.VerdictDead, r.member("eth2").IP)

		// The primary fails: the dead standby is skipped for eth4.
		r.link("eth3", false)
		require.Equal(t, []string{"eth4"}, r.holders())

		// eth2 recovers; eth4 fails: the addresses go to eth2 (the first
		// member up in order; the primary is down).
		r.ip("eth2", netpulse.VerdictAlive)
		require.Equal(t, []string{"eth4"}, r.holders(), "a healthy active member stays")
		r.link("eth4", false)
		require.Equal(t, []string{"eth2"}, r.holders())

		// eth4 back, then eth2 fails while the primary is down: eth4.
		r.link("eth4", true)
		r.link("eth2", false)
		require.Equal(t, []string{"eth4"}, r.holders())
		require.Empty(t, r.rec.Violations())
	})
}

func TestSubnetDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.ip("eth2", netpulse.VerdictDead)
		r.take()
		r.rec.Reset()

		// No member up: subnet-down, the addresses stay on eth3.
		r.link("eth3", false)
		evs := r.take()
		require.Empty(t, switches(evs))
		var ge []*failover.GroupEvent
		for _, ev := range evs {
			if g, ok := ev.(*failover.GroupEvent); ok {
				ge = append(ge, g)
			}
		}
		require.Len(t, ge, 1)
		require.True(t, ge[0].SubnetDown)
		require.Equal(t, failover.GroupSubnetDown, r.e.Snapshot().Groups[0].State)
		require.Equal(t, []string{"eth3"}, r.holders())
		require.Empty(t, r.rec.Calls(), "nothing touched while subnet-down")
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, r.rec.Calls())

		// The standby recovers: the addresses move there.
		r.ip("eth2", netpulse.VerdictAlive)
		evs = r.take()
		require.Equal(t, []string{"eth2"}, r.holders())
		sw := switches(evs)
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonLinkDown, sw[0].Reason)
		require.Equal(t, failover.GroupUp, r.e.Snapshot().Groups[0].State)
		n := 0
		for _, ev := range evs {
			if g, ok := ev.(*failover.GroupEvent); ok {
				require.False(t, g.SubnetDown)
				n++
			}
		}
		require.Equal(t, 1, n)
	})
}

func TestSubnetDownOnIPFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{SubnetDownOnIPFailure: true}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.ip("eth3", netpulse.VerdictDead)
		require.Equal(t, failover.GroupSubnetDown, r.e.Snapshot().Groups[0].State)
		require.Equal(t, []string{"eth3"}, r.holders(), "one IP failure marks the subnet down: no move")
		// A link failure can be pinned on the interface: it still moves.
		r.ip("eth3", netpulse.VerdictAlive)
		r.link("eth3", false)
		require.Equal(t, []string{"eth2"}, r.holders())
	})
}

func TestFailbackAuto(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{HoldDown: 10 * time.Second, MinDwell: 5 * time.Second}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.link("eth3", false)
		require.Equal(t, []string{"eth2"}, r.holders())

		time.Sleep(time.Minute)
		back := time.Now()
		r.link("eth3", true)
		st := r.e.Snapshot()
		require.True(t, st.Groups[0].FailbackPending)
		require.Equal(t, "eth2", st.Groups[0].Active)
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders(), "not before the hold-down")
		// A flap during the hold-down restarts it.
		r.link("eth3", false)
		r.link("eth3", true)
		back = time.Now()
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		sw := switches(r.take())
		require.Equal(t, netpulse.ReasonFailback, sw[len(sw)-1].Reason)
		require.Equal(t, 10*time.Second, sw[len(sw)-1].Time.Sub(back))
		require.Equal(t, uint64(1), r.e.Snapshot().Counters.Failbacks)
	})
}

func TestMinDwell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{HoldDown: time.Second, MinDwell: 30 * time.Second}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.link("eth3", false)
		moved := time.Now()
		r.link("eth3", true)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders(), "the dwell time holds a voluntary move back")
		// A failure is not held back by the dwell time.
		r.link("eth2", false)
		require.Equal(t, []string{"eth3"}, r.holders())
		sw := switches(r.take())
		require.Equal(t, netpulse.ReasonLinkDown, sw[len(sw)-1].Reason)

		// The dwell counts from the last move.
		r.link("eth2", true)
		r.link("eth3", false)
		moved = time.Now()
		r.link("eth3", true)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		time.Sleep(30*time.Second - time.Since(moved))
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		sw = switches(r.take())
		require.Equal(t, netpulse.ReasonFailback, sw[len(sw)-1].Reason)
		require.Equal(t, 30*time.Second, sw[len(sw)-1].Time.Sub(moved))
	})
}

func TestFailbackManual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Failback: failover.FailbackManual, HoldDown: time.Second, NoMinDwell: true}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.link("eth3", false)
		require.ErrorIs(t, r.e.Failback("eth3"), failover.ErrNotHealthy)
		r.take()
		r.link("eth3", true)
		evs := r.take()
		h := healths(evs)
		require.Len(t, h, 1, "the primary's recovery is reported")
		require.Equal(t, netpulse.HealthUp, h[0].To)
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders(), "manual: no failback on its own")
		require.True(t, r.e.Snapshot().Groups[0].FailbackPending)
		require.ErrorIs(t, r.e.Failback("nosuch"), failover.ErrUnknownGroup)
		require.NoError(t, r.e.Failback("eth3"))
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonFailback, sw[0].Reason)
		require.False(t, r.e.Snapshot().Groups[0].FailbackPending)
	})
}

func TestFailbackNever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Failback: failover.FailbackNever, HoldDown: time.Second, NoMinDwell: true}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.link("eth3", false)
		r.link("eth3", true)
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		// The standby fails: back to the primary, as a failure move.
		r.ip("eth2", netpulse.VerdictDead)
		require.Equal(t, []string{"eth3"}, r.holders())
		sw := switches(r.take())
		require.Equal(t, netpulse.ReasonIPDown, sw[len(sw)-1].Reason)
	})
}

func TestManualSwitchAndDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Primary: "eth3", Standbys: []string{"eth2", "eth4"}, HoldDown: time.Second, NoMinDwell: true}, nil)
		defer r.close()
		r.start("eth3", "eth2", "eth4")
		require.NoError(t, r.e.Switch("eth3", "eth4"))
		synctest.Wait()
		require.Equal(t, []string{"eth4"}, r.holders())
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonManual, sw[0].Reason)
		require.True(t, sw[0].EvidenceTime.IsZero())
		require.NoError(t, r.e.Switch("eth3", "eth4"), "to the active member: no-op")
		require.ErrorIs(t, r.e.Switch("eth3", "eth9"), failover.ErrNotMember)
		require.ErrorIs(t, r.e.Switch("nosuch", "eth2"), failover.ErrUnknownGroup)
		r.link("eth2", false)
		require.ErrorIs(t, r.e.Switch("eth3", "eth2"), failover.ErrNotHealthy)

		// Auto failback (hold-down 1 s) then happens after the manual move.
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())

		// Disabling the active member moves the addresses, reason manual.
		require.NoError(t, r.e.Disable("eth3"))
		synctest.Wait()
		require.Equal(t, []string{"eth4"}, r.holders())
		sw = switches(r.take())
		require.Equal(t, netpulse.ReasonManual, sw[len(sw)-1].Reason)
		require.Equal(t, netpulse.HealthDisabled, r.member("eth3").Health)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, []string{"eth4"}, r.holders(), "a disabled primary is not failed back to")
		require.NoError(t, r.e.Enable("eth3"))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
	})
}

func TestActuatorFailuresRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		errNoDev := errors.New("no such device")
		fails := 0
		r.rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
			// The second address cannot be added three times, then the
			// removal from eth3 fails twice.
			if op == failover.OpAdd && p == svc6 && fails < 3 {
				fails++
				return errNoDev
			}
			if op == failover.OpRemove && fails >= 3 && fails < 5 {
				fails++
				return errNoDev
			}
			return nil
		})
		lost := time.Now()
		r.link("eth3", false)
		// Never lost: the address stays on eth3 until its copy is on eth2.
		require.Contains(t, r.rec.Holders(svc4), "eth3")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		evs := r.take()
		var retries []time.Duration
		var ops []string
		for _, ev := range evs {
			if a, ok := ev.(*failover.ActionErrorEvent); ok {
				retries = append(retries, a.RetryIn)
				ops = append(ops, a.Op)
				require.ErrorIs(t, a.Err, errNoDev)
			}
		}
		require.Equal(t, []string{"add", "add", "add", "remove", "remove"}, ops)
		require.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}, retries)
		sw := switches(evs)
		require.Len(t, sw, 1)
		require.Equal(t, 6, sw[0].Attempts)
		require.Equal(t, 1550*time.Millisecond, sw[0].Latency, "sum of the backoffs")
		require.Equal(t, lost, sw[0].EvidenceTime)
		st := r.e.Snapshot()
		require.Equal(t, uint64(5), st.Counters.ActionErrors)
		require.False(t, st.Groups[0].MovePending)
		require.Empty(t, st.Groups[0].LastError)
		require.Empty(t, r.rec.Violations())
	})
}

func TestRetryBackoffCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, func(c *failover.Config) { c.RetryMax = 300 * time.Millisecond })
		defer r.close()
		r.start("eth3", "eth2")
		r.rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
			if op == failover.OpSteer {
				return errors.New("EPERM")
			}
			return nil
		})
		r.link("eth3", false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := r.e.Snapshot()
		require.True(t, st.Groups[0].MovePending)
		require.Equal(t, "EPERM", st.Groups[0].LastError)
		require.Equal(t, "eth3", st.Groups[0].Active, "not moved until every step succeeded")
		require.Contains(t, st.String(), "move pending, last error: EPERM")
		var last time.Duration
		for _, ev := range r.take() {
			if a, ok := ev.(*failover.ActionErrorEvent); ok {
				last = a.RetryIn
			}
		}
		require.Equal(t, 300*time.Millisecond, last)
		// While the move is half done, the addresses are on eth2 (added
		// and removed from eth3) and nowhere lost.
		require.Equal(t, []string{"eth2"}, r.holders())
		r.rec.SetFail(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, "eth2", r.e.Snapshot().Groups[0].Active)
	})
}

func TestStatusStringAndJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Name: "svc"}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.ip("eth3", netpulse.VerdictDead)
		st := r.e.Snapshot()
		s := st.String()
		for _, want := range []string{"GROUP", "svc", "up", "eth2", "auto", "198.18.10.50/24,2001:db8:10::50/64",
			"NETWORK_INTERFACE", "eth3", "primary", "ip-down", "ip_only", "dead", "standby", "alive"} {
			require.Contains(t, s, want)
		}
		lines := strings.Split(s, "\n")
		var eth3 string
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "eth3") {
				eth3 = l
			}
		}
		require.Regexp(t, `eth3\s+primary\s+no\s+ip-down\s+ip_only\s+up\s+dead`, eth3)
		b, err := json.Marshal(st)
		require.NoError(t, err)
		var back map[string]any
		require.NoError(t, json.Unmarshal(b, &back))
		g := back["groups"].([]any)[0].(map[string]any)
		require.Equal(t, "svc", g["name"])
		require.Equal(t, "eth2", g["active"])
		require.Equal(t, "up", g["state"])
		require.Equal(t, "ip-down", g["last_reason"])
		m := g["members"].([]any)[0].(map[string]any)
		require.Equal(t, "ip-down", m["health"])
		require.Equal(t, "ip_only", m["failure"])
		require.Equal(t, "dead", m["ip"])
		// The status reads back into its own types: every enum unmarshals
		// from the words it marshals to.
		var typed failover.Status
		require.NoError(t, json.Unmarshal(b, &typed))
		require.Equal(t, st.Groups[0].State, typed.Groups[0].State)
		require.Equal(t, st.Groups[0].Failback, typed.Groups[0].Failback)
		require.Equal(t, st.Groups[0].LastReason, typed.Groups[0].LastReason)
		for i, m := range st.Groups[0].Members {
			got := typed.Groups[0].Members[i]
			require.True(t, m.Since.Equal(got.Since))
			got.Since = m.Since // the same instant, another *time.Location
			require.Equal(t, m, got)
		}
		var gs failover.GroupState
		require.ErrorIs(t, gs.UnmarshalText([]byte("sideways")), os.ErrInvalid)
		var fp failover.FailbackPolicy
		require.ErrorIs(t, fp.UnmarshalText([]byte("sometimes")), os.ErrInvalid)
	})
}

func TestConfigValidation(t *testing.T) {
	rec := failovertest.NewRecorder()
	good := failover.GroupConfig{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}}
	for name, cfg := range map[string]failover.Config{
		"nil config":   {},
		"netns twice":  {Actuator: rec, NetNS: 3, Groups: []failover.GroupConfig{good}},
		"bad netns":    {NetNS: -1, Groups: []failover.GroupConfig{good}},
		"neg holddown": {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Addresses: []netip.Prefix{svc4}, HoldDown: -1}}},
		"neg announce": {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Addresses: []netip.Prefix{svc4}, AnnounceCount: -1}}},
		"switch+value": {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Addresses: []netip.Prefix{svc4}, MinDwell: time.Second, NoMinDwell: true}}},
		"neg repair":   {Actuator: rec, Groups: []failover.GroupConfig{good}, RepairInterval: -1},
		"no group":     {Actuator: rec},
		"no primary":   {Actuator: rec, Groups: []failover.GroupConfig{{Addresses: []netip.Prefix{svc4}}}},
		"no address":   {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3"}}},
		"shared iface": {Actuator: rec, Groups: []failover.GroupConfig{good, {Name: "b", Primary: "eth2", Addresses: []netip.Prefix{svc6}}}},
		"link-local":   {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Addresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64")}}}},
		"duplicate":    {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Addresses: []netip.Prefix{svc4, svc4}}}},
		"bad initial":  {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Initial: "eth9", Addresses: []netip.Prefix{svc4}}}},
		"bad policy":   {Actuator: rec, Groups: []failover.GroupConfig{{Primary: "eth3", Failback: 9, Addresses: []netip.Prefix{svc4}}}},
		"retry bounds": {Actuator: rec, Groups: []failover.GroupConfig{good}, RetryMin: time.Second, RetryMax: time.Millisecond},
	} {
		c := &cfg
		if name == "nil config" {
			c = nil
		}
		require.ErrorIs(t, c.Validate(), os.ErrInvalid, name)
		_, err := failover.Open(context.Background(), c)
		require.ErrorIs(t, err, os.ErrInvalid, name)
	}
	require.NoError(t, (&failover.Config{Actuator: rec, Groups: []failover.GroupConfig{good}}).Validate())
	for name, ac := range map[string]failover.ActuatorConfig{
		"bad netns":      {NetNS: -1},
		"neg probes":     {ConflictProbes: -1},
		"neg probe ival": {ConflictProbeInterval: -time.Second},
	} {
		require.ErrorIs(t, ac.Validate(), os.ErrInvalid, name)
		_, err := failover.OpenActuator(context.Background(), &ac)
		require.ErrorIs(t, err, os.ErrInvalid, name)
	}
	require.NoError(t, (*failover.ActuatorConfig)(nil).Validate())
	for _, s := range []string{"auto", "manual", "never"} {
		p, err := failover.ParseFailbackPolicy(s)
		require.NoError(t, err)
		require.Equal(t, s, p.String())
	}
	_, err := failover.ParseFailbackPolicy("sometimes")
	require.Error(t, err)
}

func TestEventsNeverBlockEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := failovertest.NewRecorder()
		e, err := failover.Open(context.Background(), &failover.Config{
			Groups:     []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}, NoMinDwell: true, NoHoldDown: true}},
			Actuator:   rec,
			EventQueue: 8,
		})
		require.NoError(t, err)
		defer e.Close()
		// A subscriber that never reads: the engine keeps working and
		// counts drops.
		_ = e.Subscribe(context.Background())
		for i := 0; i < 50; i++ {
			feed(e).link("eth2", 0, true)
			feed(e).link("eth3", 0, i%2 == 0)
			synctest.Wait()
		}
		st := e.Snapshot()
		require.Positive(t, st.Counters.EventsDropped)
		require.Equal(t, "eth2", st.Groups[0].Active)
		require.Equal(t, []string{"eth2"}, rec.Holders(svc4))
	})
}

// TestHalfMoveWhileSubnetDown: a move whose removal from the failed member
// fails leaves the addresses on two members; the group then goes
// subnet-down. Nothing is touched while no member is up (no retries, no
// announcements on dead links, nothing lost); when the primary is up again
// the move completes there and the addresses are on it alone.
func TestHalfMoveWhileSubnetDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		removals := 0
		r.rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
			if op == failover.OpRemove && removals < 2 {
				removals++
				return errors.New("EBUSY")
			}
			return nil
		})
		r.link("eth3", false)
		// Added on eth2, not yet removed from eth3.
		require.ElementsMatch(t, []string{"eth2", "eth3"}, r.holders())
		require.True(t, r.e.Snapshot().Groups[0].MovePending)

		// eth2 dies before the retry: no member is up.
		r.link("eth2", false)
		r.rec.Reset()
		time.Sleep(time.Hour)
		synctest.Wait()
		st := r.e.Snapshot().Groups[0]
		require.Equal(t, failover.GroupSubnetDown, st.State)
		require.True(t, st.MovePending, "the half move is still to complete")
		require.Empty(t, r.rec.Calls(), "nothing touched while subnet-down")
		require.ElementsMatch(t, []string{"eth2", "eth3"}, r.holders(), "nothing lost")
		require.Empty(t, switches(r.take()))

		// The primary comes back: the move completes there.
		r.link("eth3", true)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		st = r.e.Snapshot().Groups[0]
		require.False(t, st.MovePending)
		require.Equal(t, "eth3", st.Active)
		require.Equal(t, failover.GroupUp, st.State)
		require.Equal(t, "eth3", r.rec.Steered(svc4))
		require.Empty(t, r.rec.Violations())
	})
}

// BenchmarkObserveToHealthEvent: one piece of evidence that changes a
// standby's health, to its HealthEvent at a subscriber (the engine's
// per-event path, no move).
func BenchmarkObserveToHealthEvent(b *testing.B) {
	e, err := failover.Open(context.Background(), &failover.Config{
		Groups:   []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}}},
		Actuator: failovertest.NewRecorder(),
	})
	require.NoError(b, err)
	defer e.Close()
	sub := e.Subscribe(context.Background())
	feed(e).link("eth3", 13, true)
	wait := func() {
		for ev := range sub {
			if h, ok := ev.(*failover.HealthEvent); ok && !h.Initial && h.Interface.Name == "eth2" {
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		feed(e).link("eth2", 12, i%2 == 0)
		wait()
	}
}
