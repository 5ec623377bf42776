package ipmontest_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prober is what a consumer (failover) would declare.
type prober interface {
	Subscribe(ctx context.Context) <-chan ipmon.Event
	Snapshot() ipmon.Snapshot
}

var (
	_ prober = (*ipmon.Poller)(nil)
	_ prober = (*ipmontest.Poller)(nil)
)

func TestFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := ipmontest.New(&ipmon.Config{Verdict: ipmon.VerdictRule{Kind: ipmon.All}})
		defer p.Close()
		a := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth3"}
		b := ipmon.Target{Addr: netip.MustParseAddr("2001:db8::1"), Interface: "eth3"}
		require.NoError(t, p.Add(a))
		require.NoError(t, p.Add(b))
		require.ErrorIs(t, p.Add(a), ipmon.ErrExists)
		ch := p.Subscribe(t.Context())
		// Initial state: two targets and the interface.
		for range 3 {
			ev := <-ch
			require.True(t, ev.Initial)
		}
		require.NoError(t, p.Set(a, ipmon.Up, time.Millisecond))
		ev := <-ch
		require.Equal(t, ipmon.Up, ev.State)
		require.Equal(t, ipmon.Unknown, ev.Previous)
		require.Equal(t, time.Second, ev.Target.Interval, "defaults filled")
		require.NoError(t, p.Set(b, ipmon.Up, time.Millisecond))
		<-ch
		ev = <-ch
		require.Equal(t, ipmon.VerdictChanged, ev.Kind)
		require.Equal(t, ipmon.VerdictAlive, ev.Verdict)
		require.NoError(t, p.Set(b, ipmon.Down, 0))
		<-ch
		ev = <-ch
		require.Equal(t, ipmon.VerdictDead, ev.Verdict)
		s := p.Snapshot()
		require.Equal(t, ipmon.VerdictDead, s.Interfaces[0].Verdict)
		require.Equal(t, 1, s.Interfaces[0].Down)

		// A slow reader: many flips, latest state delivered.
		for i := range 50 {
			st := ipmon.Up
			if i%2 == 1 {
				st = ipmon.Down
			}
			require.NoError(t, p.Set(a, st, 0))
		}
		var last ipmon.Event
		for done := false; !done; {
			synctest.Wait()
			select {
			case ev := <-ch:
				if ev.Kind == ipmon.TargetChanged {
					last = ev
				}
			default:
				done = true
			}
		}
		require.Equal(t, ipmon.Down, last.State)
		require.NoError(t, p.Remove(a))
		ev = <-ch
		require.True(t, ev.Removed)
		require.ErrorIs(t, p.Set(a, ipmon.Up, 0), ipmon.ErrNotFound)
		require.NoError(t, p.Close())
		for range ch {
		}
		require.ErrorIs(t, p.Add(a), ipmon.ErrClosed)
	})
}
