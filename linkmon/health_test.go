package linkmon

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHealthEvents (#12.8): every change of the watcher's health is an
// event on every subscription, and a subscriber that arrives while the
// watcher is unhealthy gets it among its initial events.
func TestHealthEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{}))
		c.start()
		defer c.stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ch := c.subscribe(ctx)
		ev := <-ch
		require.False(t, ev.IsHealth(), "a healthy watcher replays no health")

		fail := &Error{Op: "receive", Err: syscall.ENOBUFS}
		c.setHealth(fail, time.Now())
		ev = <-ch
		require.True(t, ev.IsHealth())
		require.False(t, ev.Health.Healthy)
		require.ErrorIs(t, ev.Health.Err, fail)
		require.Zero(t, ev.State, "a health event carries no link")

		// Each failed reopen is a change: another event.
		time.Sleep(10 * time.Millisecond)
		reopen := &Error{Op: "reopen", Err: syscall.EMFILE}
		c.setHealth(reopen, time.Now())
		ev = <-ch
		require.ErrorIs(t, ev.Health.Err, reopen)

		// A new subscriber learns it at once.
		ch2 := c.subscribe(ctx)
		ev = <-ch2
		require.Equal(t, "eth2", ev.State.Name)
		ev = <-ch2
		require.True(t, ev.Initial)
		require.True(t, ev.IsHealth())
		require.False(t, ev.Health.Healthy)

		c.setHealth(nil, time.Now())
		for _, ch := range []<-chan Event{ch, ch2} {
			ev = <-ch
			require.True(t, ev.IsHealth())
			require.True(t, ev.Health.Healthy)
			var lerr *Error
			require.True(t, errors.As(ev.Health.Err, &lerr), "the last error stays visible")
		}
		require.True(t, c.snapshot().Health.Healthy)
		// Health events are never merged: two unread ones both arrive.
		c.setHealth(fail, time.Now())
		c.setHealth(nil, time.Now())
		synctest.Wait()
		require.False(t, (<-ch).Health.Healthy)
		require.True(t, (<-ch).Health.Healthy)
	})
}

// TestQueueCapUnderChurn (#12.8): a subscriber that stops reading without
// cancelling, under link churn (links created and deleted, each with a new
// index: no event can be merged), keeps a bounded queue; the watcher counts
// the drops and the subscriber's next event tells them. Links still present
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
		require.Positive(t, snap.Counters.QueueDrops)
		var told uint64
		var got []Event
		for {
			synctest.Wait()
			select {
			case ev := <-ch:
				told += ev.Dropped
				got = append(got, ev)
				continue
			default:
			}
			break
		}
		require.Equal(t, snap.Counters.QueueDrops, told, "every drop told to the subscriber")
		require.Equal(t, uint64(1+2*churn+1), uint64(len(got))+told+snap.Counters.Coalesced, "every event delivered, merged or counted")
		last := got[len(got)-1]
		require.Equal(t, "eth2", last.State.Name)
		require.False(t, last.State.Carrier, "the latest state of eth2 arrives")
	})
}
