package linkmon

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// TestConditionEvents (#12.8): every change of the watcher's condition is
// an event on every subscription, and a subscriber that arrives while the
// watcher is failing gets it among its initial events.
func TestConditionEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{}))
		c.start()
		defer c.stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ch := c.subscribe(ctx)
		require.True(t, recvLink(t, ch).Initial, "a working watcher replays no condition")
		synctest.Wait()
		require.Empty(t, ch)

		fail := &Error{Op: "receive", Err: syscall.ENOBUFS}
		failedAt := time.Now()
		c.setCondition(fail, failedAt)
		ev := condOf(t, <-ch)
		require.False(t, ev.Condition.OK)
		require.ErrorIs(t, ev.Condition.Err, fail)
		require.True(t, ev.Previous.OK)
		require.Equal(t, netpulse.ReasonFailing, ev.Reason)
		require.Equal(t, failedAt, ev.Condition.Since)

		// Each failed reopen is a change: another event, since the first
		// failure.
		time.Sleep(10 * time.Millisecond)
		reopen := &Error{Op: "reopen", Err: syscall.EMFILE}
		c.setCondition(reopen, time.Now())
		ev = condOf(t, <-ch)
		require.ErrorIs(t, ev.Condition.Err, reopen)
		require.Equal(t, failedAt, ev.Condition.Since, "failing since the first failure")
		require.Equal(t, time.Now(), ev.Time)

		// A new subscriber learns it at once.
		ch2 := c.subscribe(ctx)
		require.Equal(t, "eth2", recvLink(t, ch2).State.Name)
		ev = condOf(t, <-ch2)
		require.False(t, ev.Condition.OK)
		require.ErrorIs(t, ev.Condition.Err, reopen)

		c.setCondition(nil, time.Now())
		for _, ch := range []<-chan netpulse.Event{ch, ch2} {
			ev = condOf(t, <-ch)
			require.True(t, ev.Condition.OK)
			require.NoError(t, ev.Condition.Err)
			require.Equal(t, netpulse.ReasonWorking, ev.Reason)
			var lerr *Error
			require.True(t, errors.As(ev.Previous.Err, &lerr), "the error it recovered from")
		}
		require.True(t, c.snapshot().Condition.OK)
		// A recovery of a working watcher is no event.
		c.setCondition(nil, time.Now())
		synctest.Wait()
		require.Empty(t, ch)
		// Condition events are never merged: two unread ones both arrive.
		c.setCondition(fail, time.Now())
		c.setCondition(nil, time.Now())
		synctest.Wait()
		require.False(t, condOf(t, <-ch).Condition.OK)
		require.True(t, condOf(t, <-ch).Condition.OK)
		require.Equal(t, uint64(1), c.snapshot().Counters.Events, "condition events are not link events")
	})
}

func condOf(t *testing.T, ev netpulse.Event) *netpulse.ConditionEvent {
	t.Helper()
	c, ok := ev.(*netpulse.ConditionEvent)
	require.True(t, ok, "got %T, want a condition event", ev)
	return c
}

// TestQueueCapUnderChurn (#12.8): a subscriber that stops reading without
// cancelling, under link churn (links created and deleted, each with a new
// index: no event can be merged), keeps a bounded queue; the watcher counts
// the drops and a drop event before the subscriber's next event tells them. Links still present
// have their latest state delivered.
func TestQueueCapUnderChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{}))
		c.start()
		defer c.stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ch := c.subscribe(ctx)
		const churn = 20000 // a creation and its deletion merge: 20000 waiting, past the default cap
		for i := range churn {
			c.apply(msg(100+i, "veth", true, true), time.Now())
			del := msg(100+i, "veth", true, true)
			del.deleted = true
			c.apply(del, time.Now())
		}
		c.apply(msg(2, "eth2", true, false), time.Now()) // the latest state of eth2
		synctest.Wait()
		snap := c.snapshot()
		require.Positive(t, snap.Counters.EventsDropped)
		var told uint64
		var got []*LinkEvent
		drop := false
		for {
			synctest.Wait()
			select {
			case ev := <-ch:
				if d, ok := ev.(*netpulse.DropEvent); ok {
					require.False(t, drop, "one drop event, then an event")
					require.Positive(t, d.Count)
					require.False(t, d.Time.IsZero())
					told += d.Count
					drop = true
					continue
				}
				got = append(got, linkOf(t, ev))
				drop = false
				continue
			default:
			}
			break
		}
		require.False(t, drop, "a drop event is followed by the event that fit")
		require.Equal(t, snap.Counters.EventsDropped, told, "every drop told to the subscriber")
		require.Equal(t, uint64(1+2*churn+1), uint64(len(got))+told+snap.Counters.Coalesced, "every event delivered, merged or counted")
		last := got[len(got)-1]
		require.Equal(t, "eth2", last.State.Name)
		require.False(t, last.State.Carrier, "the latest state of eth2 arrives")
	})
}

// TestSharedEventsNeverModified: events are shared by every subscriber, so
// coalescing for a slow one makes a new event and leaves the ones a fast
// subscriber already holds as they were; the slow one gets the transition
// from the state it saw last straight to the latest.
func TestSharedEventsNeverModified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{Buffer: 1}))
		c.start()
		defer c.stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.apply(msg(2, "eth2", true, true), time.Now())
		fast, slow := c.subscribe(ctx), c.subscribe(ctx)
		recvLink(t, fast)
		recvLink(t, slow)
		var held []*LinkEvent
		var copies []LinkEvent
		for i := range 20 {
			c.apply(msg(2, "eth2", true, i%2 == 1), time.Now())
			ev := recvLink(t, fast)
			held = append(held, ev)
			copies = append(copies, *ev)
		}
		synctest.Wait()
		var got []*LinkEvent
		for len(slow) > 0 {
			got = append(got, recvLink(t, slow))
			synctest.Wait()
		}
		require.Less(t, len(got), 20, "the slow subscriber's events were coalesced")
		for i := range held {
			require.Equal(t, copies[i], *held[i], "event %d modified after it was sent", i)
		}
		require.True(t, got[0].Previous.Carrier && !got[0].State.Carrier, "the first event it got, sent before it fell behind")
		last := got[len(got)-1]
		require.True(t, last.State.Carrier, "the latest state")
		require.Equal(t, got[len(got)-2].State.Carrier, last.Previous.Carrier, "chained from what it saw")
		require.Equal(t, held[len(held)-1].Seq, last.Seq)
	})
}
