package ipmontest_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prober is what a consumer (failover) would declare.
type prober interface {
	Subscribe(ctx context.Context) <-chan netpulse.Event
	Snapshot() ipmon.Snapshot
}

var (
	_ prober = (*ipmon.Poller)(nil)
	_ prober = (*ipmontest.Poller)(nil)
)

func TestFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := ipmontest.New(&ipmon.Config{Verdict: ipmon.VerdictRule{Kind: ipmon.RuleAll}})
		defer p.Close()
		p.SetIndex("eth3", 3)
		a := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth3"}
		b := ipmon.Target{Addr: netip.MustParseAddr("2001:db8::1"), Interface: "eth3"}
		require.NoError(t, p.Add(a))
		require.NoError(t, p.Add(b))
		require.ErrorIs(t, p.Add(a), ipmon.ErrExists)
		ch := p.Subscribe(t.Context())
		// Initial state: two targets and the interface.
		for range 2 {
			ev := (<-ch).(*ipmon.TargetEvent)
			require.True(t, ev.Initial)
		}
		require.True(t, (<-ch).(*ipmon.VerdictEvent).Initial)
		require.NoError(t, p.Set(a, ipmon.TargetUp, time.Millisecond))
		ev := (<-ch).(*ipmon.TargetEvent)
		require.Equal(t, ipmon.TargetUp, ev.State)
		require.Equal(t, ipmon.TargetUnknown, ev.Previous)
		require.Equal(t, netpulse.Interface{Index: 3, Name: "eth3"}, ev.Interface)
		require.Equal(t, time.Second, ev.Target.Interval, "defaults filled")
		require.NoError(t, p.Set(b, ipmon.TargetUp, time.Millisecond))
		<-ch
		vev := (<-ch).(*ipmon.VerdictEvent)
		require.Equal(t, netpulse.VerdictAlive, vev.Verdict)
		require.NoError(t, p.Set(b, ipmon.TargetDown, 0))
		<-ch
		vev = (<-ch).(*ipmon.VerdictEvent)
		require.Equal(t, netpulse.VerdictDead, vev.Verdict)
		require.Equal(t, netpulse.VerdictAlive, vev.Previous)
		s := p.Snapshot()
		require.Equal(t, netpulse.VerdictDead, s.Interfaces[0].Verdict)
		require.Equal(t, 1, s.Interfaces[0].Down)
		// The one meaning of dead: a failing rule over a target that never
		// answered only is unverified.
		require.NoError(t, p.Set(b, ipmon.TargetUnverified, 0))
		<-ch
		require.Equal(t, netpulse.VerdictUnverified, (<-ch).(*ipmon.VerdictEvent).Verdict)

		// A slow reader: many flips, latest state delivered.
		for i := range 50 {
			st := ipmon.TargetUp
			if i%2 == 1 {
				st = ipmon.TargetDown
			}
			require.NoError(t, p.Set(a, st, 0))
		}
		var last *ipmon.TargetEvent
		for done := false; !done; {
			synctest.Wait()
			select {
			case ev := <-ch:
				if te, ok := ev.(*ipmon.TargetEvent); ok {
					last = te
				}
			default:
				done = true
			}
		}
		require.Equal(t, ipmon.TargetDown, last.State)
		require.Positive(t, last.Coalesced, "intermediate states folded")
		require.NoError(t, p.Remove(a))
		ev = (<-ch).(*ipmon.TargetEvent)
		require.True(t, ev.Removed)
		require.ErrorIs(t, p.Set(a, ipmon.TargetUp, 0), ipmon.ErrNotFound)
		require.NoError(t, p.Close())
		for range ch {
		}
		require.ErrorIs(t, p.Add(a), net.ErrClosed)
	})
}

// TestFakeTargetsAsPoller: the fake fills and checks targets with the
// Poller's own rules (they once drifted): a target's default timeout
// follows its own interval, addresses are unmapped, and what the Poller
// refuses without the kernel the fake refuses with the same errors.
func TestFakeTargetsAsPoller(t *testing.T) {
	p := ipmontest.New(&ipmon.Config{Interval: 100 * time.Millisecond})
	defer p.Close()
	require.NoError(t, p.Add(ipmon.Target{Addr: netip.MustParseAddr("::ffff:198.18.0.1"), Interface: "eth3", Interval: 10 * time.Millisecond}))
	got := p.Targets()[0]
	require.Equal(t, netip.MustParseAddr("198.18.0.1"), got.Addr, "unmapped")
	require.Equal(t, 10*time.Millisecond, got.Timeout, "the default timeout follows the target's interval")
	require.Equal(t, ipmon.DefaultFailAfter, got.FailAfter)
	require.ErrorIs(t, p.Add(ipmon.Target{Addr: netip.MustParseAddr("224.0.0.1"), Interface: "eth3"}), ipmon.ErrInvalidTarget)
	require.ErrorIs(t, p.Add(ipmon.Target{Addr: netip.MustParseAddr("127.0.0.1"), Interface: "eth3"}), ipmon.ErrLocalAddress)
	require.ErrorIs(t, p.Add(ipmon.Target{Addr: netip.MustParseAddr("198.18.0.2")}), ipmon.ErrInvalidTarget, "no interface")
	require.ErrorIs(t, p.Update(ipmon.Target{Addr: got.Addr, Interface: "eth3", Interval: -1}), os.ErrInvalid)
	require.NoError(t, p.Set(ipmon.Target{Addr: netip.MustParseAddr("::ffff:198.18.0.1"), Interface: "eth3"}, ipmon.TargetUp, 0), "identified as the Poller does")
	require.Panics(t, func() { ipmontest.New(&ipmon.Config{Mode: 7}) }, "an invalid config is a test's mistake")
}
