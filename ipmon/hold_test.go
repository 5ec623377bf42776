package ipmon

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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

// nextTarget returns the next TargetChanged event, whatever its states.
func nextTarget(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "channel closed")
			if ev.Kind == TargetChanged {
				return ev
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
		ev := next(t, ch, TargetChanged)
		require.Equal(t, Up, ev.State)
		require.Equal(t, VerdictAlive, next(t, ch, VerdictChanged).Verdict)

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
			require.Equal(t, Unknown, ev.State)
			if ev.Previous == Up {
				require.Equal(t, VerdictUnknown, next(t, ch, VerdictChanged).Verdict)
			}
			sent := f.sent(tgtA)
			time.Sleep(time.Second)
			require.Equal(t, sent, f.sent(tgtA), "a held target is not probed")
			s := p.Snapshot()
			require.Equal(t, step.hold, s.Targets[0].Hold)
			require.Equal(t, Unknown, s.Targets[0].State)
			require.False(t, s.Targets[0].Source.IsValid())
		}

		// The source comes back, another one: probed again from it.
		newSrc := netip.MustParseAddr("198.18.40.50")
		f.set(func() { f.noSource["eth2"] = false; f.src["eth2"] = newSrc })
		p.refresh()
		ev = nextTarget(t, ch)
		require.Equal(t, HoldNone, ev.Hold)
		require.Equal(t, Unknown, ev.State)
		ev = next(t, ch, TargetChanged)
		require.Equal(t, Up, ev.State)
		require.Equal(t, VerdictAlive, next(t, ch, VerdictChanged).Verdict)
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
		require.True(t, p.Snapshot().Health.OK)
		p.setHealth("link and address notifications: boom")
		ev := next(t, ch, HealthChanged)
		require.False(t, ev.Health.OK)
		require.Equal(t, "link and address notifications: boom", ev.Health.Problem)
		require.True(t, ev.PreviousHealth.OK)
		p.setHealth("link and address notifications: boom") // no change, no event
		late := p.Subscribe(t.Context())
		ev = next(t, late, HealthChanged)
		require.True(t, ev.Initial)
		require.False(t, ev.Health.OK)
		p.setHealth("")
		ev = next(t, ch, HealthChanged)
		require.True(t, ev.Health.OK)
		require.False(t, ev.PreviousHealth.OK)
		s := p.Snapshot()
		require.True(t, s.Health.OK)
		require.Equal(t, uint64(1), s.HealthFaults)
		synctest.Wait()
		select {
		case ev := <-ch:
			t.Fatalf("unexpected event %+v", ev)
		default:
		}
		require.Equal(t, "health", HealthChanged.String())
		require.Equal(t, "no-source", HoldNoSource.String())
	})
}
