package linkmontest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// links is what a consumer such as failover needs; both the real watcher
// and the fake satisfy it.
type links interface {
	Snapshot() linkmon.Snapshot
	Subscribe(context.Context) <-chan linkmon.Event
}

var (
	_ links = (*linkmon.Watcher)(nil)
	_ links = (*linkmontest.Source)(nil)
)

func TestScriptedTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		for _, n := range []string{"eth2", "eth3"} {
			ev := <-ch
			require.True(t, ev.Initial)
			require.Equal(t, n, ev.State.Name)
			require.True(t, ev.State.Carrier)
		}
		start := time.Now()
		go src.Play(ctx,
			linkmontest.Step{After: 100 * time.Millisecond, Name: "eth3", Carrier: false},
			linkmontest.Step{After: 50 * time.Millisecond, Name: "eth3", Carrier: true},
			linkmontest.Step{After: 10 * time.Millisecond, Name: "eth2", AdminDown: true},
			linkmontest.Step{Name: "eth2", Remove: true},
		)
		ev := <-ch
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		require.Equal(t, "eth3", ev.State.Name)
		require.True(t, ev.State.CarrierLost())
		require.True(t, ev.Previous.Carrier)
		ev = <-ch
		require.True(t, ev.State.Carrier)
		require.Equal(t, uint64(1), ev.State.Ups)
		require.Equal(t, uint64(1), ev.State.Downs)
		ev = <-ch
		require.Equal(t, "eth2", ev.State.Name)
		require.False(t, ev.State.AdminUp)
		require.False(t, ev.State.CarrierLost())
		ev = <-ch
		require.False(t, ev.State.Present)
		require.Len(t, src.Snapshot().Links, 1)
		require.Equal(t, uint64(4), src.Snapshot().Counters.Events)

		require.Error(t, src.SetCarrier("eth9", true))
		src.Set(linkmontest.Link(4, "eth4", false))
		ev = <-ch
		require.Equal(t, "eth4", ev.State.Name)
		require.False(t, ev.Previous.Present)
	})
}

func TestSlowSubscriberCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		for i := range 500 {
			require.NoError(t, src.SetCarrier("eth2", i%2 == 1))
		}
		synctest.Wait()
		var last linkmon.Event
		n := 0
		for len(ch) > 0 {
			last = <-ch
			n++
			synctest.Wait()
		}
		require.Less(t, n, 500)
		require.True(t, last.State.Carrier, "the latest state arrives")
		require.Positive(t, src.Snapshot().Counters.Coalesced)
		src.Close()
		_, ok := <-ch
		require.False(t, ok)
	})
}

// TestSetHealth: the fake emits health events as the watcher does, and
// replays an unhealthy state to a new subscriber.
func TestSetHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		<-ch
		src.SetHealth(linkmon.Health{Err: &linkmon.Error{Op: "receive", Err: context.Canceled}})
		ev := <-ch
		require.True(t, ev.IsHealth())
		require.False(t, ev.Health.Healthy)
		require.False(t, src.Snapshot().Health.Healthy)
		ch2 := src.Subscribe(ctx)
		require.Equal(t, "eth2", (<-ch2).State.Name)
		ev = <-ch2
		require.True(t, ev.Initial && ev.IsHealth() && !ev.Health.Healthy)
		src.SetHealth(linkmon.Health{Healthy: true})
		require.True(t, (<-ch).Health.Healthy)
		require.True(t, (<-ch2).Health.Healthy)
	})
}
