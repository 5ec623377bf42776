package ipmon

import (
	"context"
	"encoding"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
	"github.com/stretchr/testify/require"
)

var (
	tgtA = netip.MustParseAddr("198.18.40.1")
	tgtB = netip.MustParseAddr("198.18.40.9")
	tgtC = netip.MustParseAddr("2001:db8:40::1")
)

func fakePoller(t *testing.T, cfg Config) (*Poller, *fakeTransport) {
	t.Helper()
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	f := newFake()
	p, err := newPoller(c, f)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Close()
		// Let the fake's reply goroutines finish inside the bubble.
		time.Sleep(10 * f.delay)
	})
	return p, f
}

// next returns the next event of type E from ch, skipping others and the
// event announcing an added target (unknown, unknown).
func next[E netpulse.Event](t *testing.T, ch <-chan netpulse.Event) E {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "channel closed")
			e, is := ev.(E)
			if !is {
				continue
			}
			if te, ok := ev.(*TargetEvent); ok && te.State == TargetUnknown && te.Previous == TargetUnknown && !te.Removed {
				continue
			}
			return e
		case <-time.After(time.Hour):
			t.Fatal("no event within an hour of simulated time")
		}
	}
}

// TestDetectionBoundSimulated checks FailAfter x Interval + Timeout for
// silences starting at many phases of the probe schedule.
func TestDetectionBoundSimulated(t *testing.T) {
	for _, tc := range []struct {
		interval, timeout time.Duration
		fail              int
	}{
		{10 * time.Millisecond, 10 * time.Millisecond, 3},
		{100 * time.Millisecond, 250 * time.Millisecond, 2},
		{time.Second, 500 * time.Millisecond, 5},
	} {
		for phase := range 7 {
			synctest.Test(t, func(t *testing.T) {
				p, f := fakePoller(t, Config{Interval: tc.interval, Timeout: tc.timeout, FailAfter: tc.fail})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ch := p.Subscribe(ctx)
				f.setAnswering(tgtA, true)
				require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
				require.Equal(t, TargetUp, next[*TargetEvent](t, ch).State)
				time.Sleep(5*tc.interval + time.Duration(phase)*tc.interval/7)
				f.setAnswering(tgtA, false)
				stopped := time.Now()
				ev := next[*TargetEvent](t, ch)
				require.Equal(t, TargetDown, ev.State)
				took := ev.Time.Sub(stopped)
				bound := ev.Target.DetectionBound()
				require.Equal(t, time.Duration(tc.fail)*tc.interval+tc.timeout, bound)
				require.LessOrEqual(t, took, bound, "phase %d", phase)
				require.GreaterOrEqual(t, took, time.Duration(tc.fail-1)*tc.interval+tc.timeout, "phase %d", phase)
			})
		}
	}
}

func TestRecoverAfterAndStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, FailAfter: 3, RecoverAfter: 4, LossWindow: 20})
		ch := p.Subscribe(t.Context())
		f.setAnswering(tgtA, true)
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		require.Equal(t, TargetUp, next[*TargetEvent](t, ch).State)
		f.setAnswering(tgtA, false)
		ev := next[*TargetEvent](t, ch)
		require.Equal(t, TargetDown, ev.State)
		require.Equal(t, 3, ev.Misses)
		f.setAnswering(tgtA, true)
		start := time.Now()
		ev = next[*TargetEvent](t, ch)
		require.Equal(t, TargetUp, ev.State)
		require.Equal(t, TargetDown, ev.Previous)
		require.Equal(t, 4, ev.Replies)
		// Four replies take at least three intervals after the first.
		require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
		time.Sleep(500 * time.Millisecond)
		s := p.Snapshot()
		ts := s.Targets[0]
		require.Equal(t, TargetUp, ts.State)
		require.Equal(t, time.Millisecond, ts.MinRTT)
		require.Equal(t, time.Millisecond, ts.MaxRTT)
		require.Equal(t, time.Millisecond, ts.AvgRTT)
		require.Zero(t, ts.DevRTT)
		require.Equal(t, 20, ts.WindowProbes)
		require.Zero(t, ts.WindowLost, "window slid past the misses")
		// Lost: the three misses, perhaps a fourth probe sent in the same
		// instant the third timed out; and one probe may be in flight.
		require.GreaterOrEqual(t, ts.Sent-ts.Received, uint64(3))
		require.LessOrEqual(t, ts.Sent-ts.Received, uint64(5))
	})
}

func TestUnverifiedThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, RecoverAfter: 3})
		ch := p.Subscribe(t.Context())
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		ev := next[*TargetEvent](t, ch)
		require.Equal(t, TargetUnverified, ev.State)
		require.Equal(t, TargetUnknown, ev.Previous)
		f.setAnswering(tgtA, true)
		ev = next[*TargetEvent](t, ch)
		require.Equal(t, TargetUp, ev.State, "one reply verifies a target")
		require.Equal(t, 1, ev.Replies)
	})
}

func TestVerdictRules(t *testing.T) {
	for _, tc := range []struct {
		rule    VerdictRule
		answers []bool // for A, B, C
		want    netpulse.Verdict
	}{
		// Targets that never answer are unverified: a rule that fails on
		// them alone gives an unverified verdict, not a dead one.
		{VerdictRule{Kind: RuleAny}, []bool{true, false, false}, netpulse.VerdictAlive},
		{VerdictRule{Kind: RuleAny}, []bool{false, false, false}, netpulse.VerdictUnverified},
		{VerdictRule{Kind: RuleAll}, []bool{true, true, false}, netpulse.VerdictUnverified},
		{VerdictRule{Kind: RuleAll}, []bool{true, true, true}, netpulse.VerdictAlive},
		{VerdictRule{Kind: RuleQuorum, N: 2}, []bool{true, false, true}, netpulse.VerdictAlive},
		{VerdictRule{Kind: RuleQuorum, N: 2}, []bool{true, false, false}, netpulse.VerdictUnverified},
	} {
		synctest.Test(t, func(t *testing.T) {
			p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, InterfaceVerdict: map[string]VerdictRule{"eth3": tc.rule}})
			ch := p.Subscribe(t.Context())
			for i, a := range []netip.Addr{tgtA, tgtB, tgtC} {
				f.setAnswering(a, tc.answers[i])
				require.NoError(t, p.Add(Target{Addr: a, Interface: "eth3"}))
			}
			ev := &VerdictEvent{}
			for ev.Verdict == netpulse.VerdictUnknown {
				ev = next[*VerdictEvent](t, ch)
			}
			require.Equal(t, tc.want, ev.Verdict, "%v %v", tc.rule, tc.answers)
			require.Equal(t, tc.rule, ev.Rule)
			require.Equal(t, netpulse.Interface{Index: 3, Name: "eth3"}, ev.Interface)
			time.Sleep(time.Second)
			s := p.Snapshot()
			require.Equal(t, tc.want, s.Interfaces[0].Verdict)
			require.Len(t, ev.Evidence, 3)
		})
	}
	require.Equal(t, netpulse.VerdictUnknown, VerdictRule{}.Decide(0, 0, 0, 0))
	require.Equal(t, netpulse.VerdictUnknown, VerdictRule{Kind: RuleAll}.Decide(1, 0, 0, 1), "one unknown could still make it")
	require.Equal(t, netpulse.VerdictUnverified, VerdictRule{Kind: RuleQuorum, N: 3}.Decide(1, 0, 0, 1), "quorum larger than the targets, none down")
	require.Equal(t, netpulse.VerdictDead, VerdictRule{Kind: RuleQuorum, N: 3}.Decide(1, 1, 0, 0), "quorum larger than the targets, one down")
	require.Equal(t, netpulse.VerdictUnverified, VerdictRule{}.Decide(0, 0, 2, 0), "only targets that never answered: no evidence")
	require.Equal(t, netpulse.VerdictDead, VerdictRule{}.Decide(0, 1, 1, 0), "one target answered, then stopped")
	require.Equal(t, netpulse.VerdictAlive, VerdictRule{Kind: RuleAll}.Decide(2, 0, 0, 0))
}

// TestSlowSubscriberCoalesces: a subscriber that reads nothing while a
// target flaps many times blocks nobody, and then receives the latest
// state, with the folded changes counted.
func TestSlowSubscriberCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, FailAfter: 1, RecoverAfter: 1})
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		ch := p.Subscribe(t.Context())
		fast := p.Subscribe(t.Context())
		flips := 0
		go func() {
			for range fast {
				flips++
			}
		}()
		for i := range 20 {
			f.setAnswering(tgtA, i%2 == 0)
			time.Sleep(100 * time.Millisecond)
		}
		f.setAnswering(tgtA, true)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		require.Greater(t, flips, 20, "the fast subscriber saw every change")
		// The slow one: initial state (coalesced with everything since).
		var last *TargetEvent
		n := 0
		for done := false; !done; {
			synctest.Wait()
			select {
			case ev := <-ch:
				n++
				if te, ok := ev.(*TargetEvent); ok {
					last = te
				}
			default:
				done = true
			}
		}
		require.LessOrEqual(t, n, 4, "changes were coalesced")
		require.Equal(t, TargetUp, last.State)
		require.Positive(t, last.Coalesced)
		require.Equal(t, p.Snapshot().Targets[0].State, last.State)
	})
}

// TestStuckSubscriberDropEvent: a subscriber that stops reading under
// churn that nothing can fold (a target added and removed again and again:
// a removal is never folded away) loses events past its queue's cap, and
// is told: a *netpulse.DropEvent with their count comes just before the
// next event it receives, and the latest state (the last removal) still
// arrives.
func TestStuckSubscriberDropEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := fakePoller(t, Config{Interval: time.Hour, Timeout: time.Second})
		ch := p.Subscribe(t.Context())
		const cycles = fanout.DefaultLimit + 1000
		tg := Target{Addr: tgtA, Interface: "eth2"}
		for range cycles {
			require.NoError(t, p.Add(tg))
			require.NoError(t, p.Remove(tg))
		}
		synctest.Wait()
		var dropped uint64
		var targets int
		var last *TargetEvent
		afterDrop := false
		for done := false; !done; {
			synctest.Wait()
			select {
			case ev := <-ch:
				switch e := ev.(type) {
				case *netpulse.DropEvent:
					require.False(t, afterDrop)
					require.Positive(t, e.Count)
					dropped += e.Count
					afterDrop = true
				case *TargetEvent:
					targets++
					last = e
					afterDrop = false
				}
			default:
				done = true
			}
		}
		require.False(t, afterDrop, "a drop event is followed by the event that fit")
		require.Positive(t, dropped, "the subscriber is told what it lost")
		require.Equal(t, dropped, p.Snapshot().EventsDropped, "Snapshot counts what the subscriber was told")
		require.True(t, last.Removed, "the latest state arrives")
		require.LessOrEqual(t, targets, fanout.DefaultLimit+2)
	})
}

// TestEventInterfaceIndex: events name their interface with the index the
// Poller's transport knows now, 0 once the interface is gone.
func TestEventInterfaceIndex(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, FailAfter: 1, RecoverAfter: 1})
		ch := p.Subscribe(t.Context())
		f.setAnswering(tgtA, true)
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		ev := next[*TargetEvent](t, ch)
		require.Equal(t, TargetUp, ev.State)
		require.Equal(t, netpulse.Interface{Index: 2, Name: "eth2"}, ev.Interface)
		v := next[*VerdictEvent](t, ch)
		require.Equal(t, netpulse.Interface{Index: 2, Name: "eth2"}, v.Interface)
		f.deleteLink("eth2")
		f.setAnswering(tgtA, false)
		ev = next[*TargetEvent](t, ch)
		require.Equal(t, TargetDown, ev.State)
		require.Equal(t, netpulse.Interface{Name: "eth2"}, ev.Interface, "gone: index 0")
		v = next[*VerdictEvent](t, ch)
		require.Equal(t, netpulse.VerdictDead, v.Verdict)
		require.Equal(t, 0, v.Interface.Index)
	})
}

func TestUpdateRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 100 * time.Millisecond})
		f.setAnswering(tgtA, true)
		ch := p.Subscribe(t.Context())
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		require.Equal(t, TargetUp, next[*TargetEvent](t, ch).State)
		time.Sleep(time.Second)
		before := f.sent(tgtA)
		require.InDelta(t, 10, before, 2)
		require.NoError(t, p.Update(Target{Addr: tgtA, Interface: "eth2", Interval: 10 * time.Millisecond}))
		time.Sleep(time.Second)
		require.InDelta(t, 100, f.sent(tgtA)-before, 3)
		s := p.Snapshot()
		require.Equal(t, 10*time.Millisecond, s.Targets[0].Target.Interval)
		require.Equal(t, 10*time.Millisecond, s.Targets[0].Target.Timeout, "default timeout follows the interval")
		require.Equal(t, TargetUp, s.Targets[0].State, "state kept across Update")

		require.NoError(t, p.Remove(Target{Addr: tgtA, Interface: "eth2"}))
		ev := next[*TargetEvent](t, ch)
		require.True(t, ev.Removed)
		require.Equal(t, TargetUnknown, ev.State)
		require.Equal(t, TargetUp, ev.Previous)
		require.Equal(t, netpulse.VerdictUnknown, next[*VerdictEvent](t, ch).Verdict)
		sent := f.sent(tgtA)
		time.Sleep(time.Second)
		require.Equal(t, sent, f.sent(tgtA), "no probes after Remove")
		require.Empty(t, p.Snapshot().Targets)
		require.Empty(t, p.Snapshot().Interfaces)
	})
}

// TestStrictIngressFake: replies arriving on another interface count by
// default (other-ingress) and are dropped with StrictIngress.
func TestStrictIngressFake(t *testing.T) {
	for _, strict := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, StrictIngress: strict})
			f.ingress = 2
			f.setAnswering(tgtA, true)
			require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth3"}))
			time.Sleep(time.Second)
			s := p.Snapshot()
			if strict {
				require.Equal(t, TargetUnverified, s.Targets[0].State)
				require.Positive(t, s.Drops.WrongInterface)
			} else {
				require.Equal(t, TargetUp, s.Targets[0].State)
				require.Equal(t, s.Targets[0].Received, s.Targets[0].OtherIngress)
			}
		})
	}
}

func TestLateAndDuplicateTracker(t *testing.T) {
	now := time.Unix(1000, 0)
	tg := Target{Addr: tgtA, Interface: "eth2", Interval: 10 * time.Millisecond, Timeout: 25 * time.Millisecond, FailAfter: 2, RecoverAfter: 1}
	tr := newTracker(tg, 10, now)
	n0 := tr.sendSlot(now, 0)
	n1 := tr.sendSlot(now.Add(10*time.Millisecond), 0)
	res, changed := tr.reply(n1, now.Add(12*time.Millisecond), 0)
	require.Equal(t, replyAccepted, res)
	require.True(t, changed)
	res, _ = tr.reply(n1, now.Add(13*time.Millisecond), 0)
	require.Equal(t, replyDuplicate, res)
	res, _ = tr.reply(n1+5, now.Add(13*time.Millisecond), 0)
	require.Equal(t, replyNeverSent, res)
	// n0 times out after n1 was answered: a loss, not a miss run.
	changed, _ = tr.expire(now.Add(30 * time.Millisecond))
	require.False(t, changed)
	require.Zero(t, tr.misses)
	require.Equal(t, 1, tr.windowLost)
	res, _ = tr.reply(n0, now.Add(31*time.Millisecond), 0)
	require.Equal(t, replyLate, res)
	// A reply after its deadline, before the timer ran, is late.
	n2 := tr.sendSlot(now.Add(40*time.Millisecond), 0)
	res, _ = tr.reply(n2, now.Add(70*time.Millisecond), 0)
	require.Equal(t, replyLate, res)
	// ... unless the kernel timestamp shows it arrived in time.
	n3 := tr.sendSlot(now.Add(80*time.Millisecond), 0)
	res, _ = tr.reply(n3, now.Add(110*time.Millisecond), 2*time.Millisecond)
	require.Equal(t, replyAccepted, res)
	require.Equal(t, 2*time.Millisecond, tr.lastRTT)
}

func TestParseTargetSpec(t *testing.T) {
	tg, err := ParseTargetSpec("eth2=198.18.0.1")
	require.NoError(t, err)
	require.Equal(t, Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth2"}, tg)
	require.Equal(t, "eth2=198.18.0.1", tg.String())
	tg, err = ParseTargetSpec("eth3=2001:db8::1")
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddr("2001:db8::1"), tg.Addr)
	tg, err = ParseTargetSpec("eth3=198.18.0.1/arp")
	require.NoError(t, err)
	require.Equal(t, ProbeARP, tg.Kind)
	tg, err = ParseTargetSpec("eth3=fe80::1%eth3/ll")
	require.NoError(t, err)
	require.Equal(t, ProbeLinkLocalEcho, tg.Kind)
	for _, bad := range []string{"", "eth2", "=198.18.0.1", "eth2=", "eth2=nope", "eth2=224.0.0.1", "eth2=::", "eth2=fe80::1%eth3", "eth2=2001:db8::1/arp"} {
		_, err := ParseTargetSpec(bad)
		require.ErrorIs(t, err, ErrInvalidTarget, bad)
		require.ErrorIs(t, err, os.ErrInvalid, bad)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Mode: 7}, {NetNS: -1}, {Interval: time.Microsecond}, {Timeout: -1}, {Timeout: 2 * time.Minute},
		{Interval: time.Millisecond, Timeout: 2 * time.Second}, {FailAfter: -1}, {RecoverAfter: 5000},
		{LossWindow: 5000}, {Verdict: VerdictRule{Kind: RuleQuorum}}, {InterfaceVerdict: map[string]VerdictRule{"x": {Kind: 9}}},
	} {
		err := c.Validate()
		require.ErrorIs(t, err, os.ErrInvalid, "%+v", c)
		require.NotErrorIs(t, err, ErrInvalidTarget, "a config error is no target error: %+v", c)
	}
	require.NoError(t, (*Config)(nil).Validate())
	require.NoError(t, (&Config{Interval: 10 * time.Millisecond, Verdict: VerdictRule{Kind: RuleQuorum, N: 2}}).Validate())
	c, err := (*Config)(nil).withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultInterval, c.Interval)
	require.Equal(t, DefaultInterval, c.Timeout)
	require.Equal(t, 3, c.FailAfter)
	require.Equal(t, 2, c.RecoverAfter)
}

func TestStrings(t *testing.T) {
	require.Equal(t, []string{"unknown", "up", "down", "unverified"},
		[]string{TargetUnknown.String(), TargetUp.String(), TargetDown.String(), TargetUnverified.String()})
	require.Equal(t, "quorum 2", VerdictRule{Kind: RuleQuorum, N: 2}.String())
	require.Equal(t, "any", VerdictRule{}.String())
	require.Equal(t, []string{"auto", "raw", "unprivileged"}, []string{ModeAuto.String(), ModeRaw.String(), ModeUnprivileged.String()})
	require.Equal(t, []string{"echo", "arp", "link-local-echo"}, []string{ProbeEcho.String(), ProbeARP.String(), ProbeLinkLocalEcho.String()})
	require.Equal(t, "bfd", ProbeBFD.String())
	require.Equal(t, []string{"any", "all", "quorum"}, []string{RuleAny.String(), RuleAll.String(), RuleQuorum.String()})
	require.Equal(t, "TargetState(9)", TargetState(9).String())
	for _, m := range []encoding.TextMarshaler{ModeUnprivileged, ProbeLinkLocalEcho, TargetUnverified, RuleQuorum, HoldNoSource, BFDStateInit, BFDDiagPathDown} {
		b, err := m.MarshalText()
		require.NoError(t, err)
		require.Equal(t, m.(fmt.Stringer).String(), string(b))
	}
	var k ProbeKind
	require.NoError(t, k.UnmarshalText([]byte("arp")))
	require.Equal(t, ProbeARP, k)
	require.ErrorIs(t, k.UnmarshalText([]byte("ping")), os.ErrInvalid)
	_, err := TargetState(9).MarshalText()
	require.ErrorIs(t, err, os.ErrInvalid)
}

func TestMergeKeepsRemoval(t *testing.T) {
	tg := Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth2"}
	removed := &TargetEvent{Target: tg, State: TargetUnknown, Previous: TargetUp, Removed: true}
	readded := &TargetEvent{Target: tg, State: TargetUnknown, Previous: TargetUnknown}
	_, ok := foldEvents(removed, readded)
	require.False(t, ok, "a removal must reach a slow subscriber")

	down := &TargetEvent{Target: tg, State: TargetDown, Previous: TargetUp}
	up := &TargetEvent{Target: tg, State: TargetUp, Previous: TargetDown}
	folded, ok := foldEvents(down, up)
	require.True(t, ok)
	m := folded.(*TargetEvent)
	require.Equal(t, TargetUp, m.State)
	require.Equal(t, TargetUp, m.Previous)
	require.Equal(t, 1, m.Coalesced)
	require.Equal(t, TargetDown, up.Previous, "a published event is never modified")
}
