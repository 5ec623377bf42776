package ipmon

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// resolvingFake is the fake transport plus a resolver whose answers the
// test sets: which addresses are local, which interfaces have no source.
type resolvingFake struct {
	*fakeTransport
	mu       sync.Mutex
	local    map[netip.Addr]bool
	noSource map[string]bool
	src      map[string]netip.Addr
}

func (r *resolvingFake) resolver() func(Target) (int, netip.Addr, Hold) {
	return func(t Target) (int, netip.Addr, Hold) {
		r.mu.Lock()
		defer r.mu.Unlock()
		idx := r.ifindex[t.Interface]
		switch {
		case r.local[t.Addr]:
			return idx, netip.Addr{}, HoldLocal
		case r.noSource[t.Interface]:
			return idx, netip.Addr{}, HoldNoSource
		}
		return idx, r.src[t.Interface], HoldNone
	}
}

func (r *resolvingFake) setSource(*target, netip.Addr) {}

func (r *resolvingFake) set(fn func()) {
	r.mu.Lock()
	fn()
	r.mu.Unlock()
}

// nextTarget returns the next target event, whatever its states.
func nextTarget(t *testing.T, ch <-chan netpulse.Event) *TargetEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "channel closed")
			if te, ok := ev.(*TargetEvent); ok {
				return te
			}
		case <-time.After(time.Hour):
			t.Fatal("no event within an hour of simulated time")
		}
	}
}

// TestHoldSequence: a target is held when its address becomes local and
// when its interface loses its source, is not probed while held (its state
// unknown, the interface's verdict back to unknown), takes the new source
// when one comes, and comes back up when the reason goes away; every step
// is an event with its Hold.
func TestHoldSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := (&Config{Interval: 10 * time.Millisecond, FailAfter: 2, RecoverAfter: 1}).withDefaults()
		require.NoError(t, err)
		f := &resolvingFake{fakeTransport: newFake(), local: map[netip.Addr]bool{}, noSource: map[string]bool{},
			src: map[string]netip.Addr{"eth2": netip.MustParseAddr("198.18.40.2")}}
		p, err := newPoller(c, f)
		require.NoError(t, err)
		defer func() { p.Close(); time.Sleep(10 * f.delay) }()
		ch := p.Subscribe(t.Context())
		tg := Target{Addr: tgtA, Interface: "eth2"}
		f.setAnswering(tgtA, true)
		require.NoError(t, p.Add(tg))
		ev := next[*TargetEvent](t, ch)
		require.Equal(t, TargetUp, ev.State)
		require.Equal(t, netpulse.VerdictAlive, next[*VerdictEvent](t, ch).Verdict)

		for _, step := range []struct {
			hold Hold
			on   func()
		}{
			{HoldLocal, func() { f.local[tgtA] = true }},
			{HoldNoSource, func() { f.local[tgtA] = false; f.noSource["eth2"] = true }},
		} {
			f.set(step.on)
			p.refresh()
			ev := nextTarget(t, ch)
			require.Equal(t, step.hold, ev.Hold)
			require.Equal(t, TargetUnknown, ev.State)
			if ev.Previous == TargetUp {
				require.Equal(t, netpulse.VerdictUnknown, next[*VerdictEvent](t, ch).Verdict)
			}
			sent := f.sent(tgtA)
			time.Sleep(time.Second)
			require.Equal(t, sent, f.sent(tgtA), "a held target is not probed")
			s := p.Snapshot()
			require.Equal(t, step.hold, s.Targets[0].Hold)
			require.Equal(t, TargetUnknown, s.Targets[0].State)
			require.False(t, s.Targets[0].Source.IsValid())
		}

		// The source comes back, another one: probed again from it.
		newSrc := netip.MustParseAddr("198.18.40.50")
		f.set(func() { f.noSource["eth2"] = false; f.src["eth2"] = newSrc })
		p.refresh()
		ev = nextTarget(t, ch)
		require.Equal(t, HoldNone, ev.Hold)
		require.Equal(t, TargetUnknown, ev.State)
		ev = next[*TargetEvent](t, ch)
		require.Equal(t, TargetUp, ev.State)
		require.Equal(t, netpulse.VerdictAlive, next[*VerdictEvent](t, ch).Verdict)
		s := p.Snapshot()
		require.Equal(t, newSrc, s.Targets[0].Source)
		require.Equal(t, HoldNone, s.Targets[0].Hold)
	})
}

// TestHealthEvents: the Poller's health changes are events (and a
// subscription that starts while it is unhealthy begins with one); the
// snapshot counts the faults.
func TestHealthEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := fakePoller(t, Config{})
		ch := p.Subscribe(t.Context())
		require.True(t, p.Snapshot().Condition.OK)
		p.setCondition(errors.New("link and address notifications: boom"))
		ev := next[*netpulse.ConditionEvent](t, ch)
		require.False(t, ev.Condition.OK)
		require.EqualError(t, ev.Condition.Err, "link and address notifications: boom")
		require.Equal(t, netpulse.ReasonFailing, ev.Reason)
		require.True(t, ev.Previous.OK)
		p.setCondition(errors.New("link and address notifications: boom")) // no change, no event
		late := p.Subscribe(t.Context())
		ev = next[*netpulse.ConditionEvent](t, late)
		require.False(t, ev.Condition.OK, "a subscription starts with the condition when it is not OK")
		p.setCondition(nil)
		ev = next[*netpulse.ConditionEvent](t, ch)
		require.True(t, ev.Condition.OK)
		require.Equal(t, netpulse.ReasonWorking, ev.Reason)
		require.False(t, ev.Previous.OK)
		s := p.Snapshot()
		require.True(t, s.Condition.OK)
		require.Equal(t, uint64(1), s.ConditionFaults)
		synctest.Wait()
		select {
		case ev := <-ch:
			t.Fatalf("unexpected event %+v", ev)
		default:
		}
		require.Equal(t, "no-source", HoldNoSource.String())
	})
}
