package linkmontest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
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
	Subscribe(context.Context) <-chan netpulse.Event
}

var (
	_ links = (*linkmon.Watcher)(nil)
	_ links = (*linkmontest.Source)(nil)
)

func recv(t *testing.T, ch <-chan netpulse.Event) *linkmon.LinkEvent {
	t.Helper()
	ev, ok := (<-ch).(*linkmon.LinkEvent)
	require.True(t, ok, "a link event")
	return ev
}

func TestScriptedTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		for _, n := range []string{"eth2", "eth3"} {
			ev := recv(t, ch)
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
		ev := recv(t, ch)
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		require.Equal(t, "eth3", ev.State.Name)
		require.True(t, ev.State.CarrierLost())
		require.True(t, ev.Previous.Carrier)
		ev = recv(t, ch)
		require.True(t, ev.State.Carrier)
		require.Equal(t, uint64(1), ev.State.Ups)
		require.Equal(t, uint64(1), ev.State.Downs)
		ev = recv(t, ch)
		require.Equal(t, "eth2", ev.State.Name)
		require.False(t, ev.State.AdminUp)
		require.False(t, ev.State.CarrierLost())
		ev = recv(t, ch)
		require.False(t, ev.State.Present)
		require.Len(t, src.Snapshot().Links, 1)
		require.Equal(t, uint64(4), src.Snapshot().Counters.Events)

		require.Error(t, src.SetCarrier("eth9", true))
		src.Set(linkmontest.Link(4, "eth4", false))
		ev = recv(t, ch)
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
		var last *linkmon.LinkEvent
		n := 0
		for len(ch) > 0 {
			last = recv(t, ch)
			require.Equal(t, "eth2", last.State.Name)
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

// TestFail: the fake emits condition events as the watcher does (linkmon's
// own stream), and replays a failing condition to a new subscriber.
func TestFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		<-ch
		fail := &linkmon.Error{Op: "receive", Err: context.Canceled}
		src.Fail(fail)
		ev := (<-ch).(*netpulse.ConditionEvent)
		require.False(t, ev.Condition.OK)
		require.ErrorIs(t, ev.Condition.Err, fail)
		require.Equal(t, netpulse.ReasonFailing, ev.Reason)
		require.False(t, src.Snapshot().Condition.OK)
		ch2 := src.Subscribe(ctx)
		require.Equal(t, "eth2", recv(t, ch2).State.Name)
		ev = (<-ch2).(*netpulse.ConditionEvent)
		require.False(t, ev.Condition.OK)
		src.Fail(nil)
		for _, c := range []<-chan netpulse.Event{ch, ch2} {
			ev = (<-c).(*netpulse.ConditionEvent)
			require.True(t, ev.Condition.OK)
			require.Equal(t, netpulse.ReasonWorking, ev.Reason)
		}
		require.True(t, src.Snapshot().Condition.OK)
	})
}

// TestDropEvent: a subscriber that stops reading past its queue's cap
// under churn (every link created and removed: nothing merges) is told by a
// drop event, as the watcher's are, and still gets the latest state of the
// link that stays.
func TestDropEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := linkmontest.New(linkmontest.Link(2, "eth2", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := src.Subscribe(ctx)
		const churn = 20000
		for i := range churn {
			src.Set(linkmontest.Link(100+i, "veth", true))
			require.NoError(t, src.Remove("veth"))
		}
		require.NoError(t, src.SetCarrier("eth2", false))
		synctest.Wait()
		var told uint64
		var last *linkmon.LinkEvent
		for len(ch) > 0 {
			switch ev := (<-ch).(type) {
			case *netpulse.DropEvent:
				told += ev.Count
			case *linkmon.LinkEvent:
				last = ev
			default:
				t.Fatalf("unexpected %T", ev)
			}
			synctest.Wait()
		}
		require.Positive(t, told)
		require.Equal(t, src.Snapshot().Counters.EventsDropped, told)
		require.Equal(t, "eth2", last.State.Name)
		require.False(t, last.State.Carrier, "the latest state arrives")
	})
}
