//go:build linux

package linkmon

import (
	"context"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestReopenAfterFatalSocketError closes the notification socket behind the
// watcher's back (a fatal receive error): the watcher must report it in its
// health, reopen with backoff, resynchronise and keep delivering events.
func TestReopenAfterFatalSocketError(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node, sw := pr.Node, pr.Peer
	w, err := Open(context.Background(), &Config{NetNS: node.FD()})
	require.NoError(t, err)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.Subscribe(ctx)

	w.k.mu.Lock()
	w.k.notif.f.Close()
	w.k.mu.Unlock()
	// A change while no socket listens is found by the resynchronising dump.
	require.NoError(t, sw.SetDown("p2"))
	require.Eventually(t, func() bool { return w.Snapshot().Counters.Reopens == 1 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, w.Snapshot().Condition.OK)

	deadline := time.After(10 * time.Second)
	var failed, recovered bool
	for down := false; !down || !recovered; {
		select {
		case ev := <-ch:
			down = down || carrierIs(ev, "eth2", false)
			if c, ok := ev.(*netpulse.ConditionEvent); ok {
				if !c.Condition.OK {
					var lerr *Error
					require.ErrorAs(t, c.Condition.Err, &lerr)
					require.Equal(t, "receive", lerr.Op)
					failed = true
				} else {
					require.True(t, failed, "the failure is told before the recovery")
					recovered = true
				}
			}
		case <-deadline:
			t.Fatal("carrier loss during the outage or the recovery was not evented")
		}
	}
	// And the new socket delivers.
	require.NoError(t, sw.SetUp("p2"))
	for up := false; !up; {
		select {
		case ev := <-ch:
			up = carrierIs(ev, "eth2", true)
		case <-deadline:
			t.Fatal("no event from the reopened socket")
		}
	}
}

// TestStuckReopenIsEvented (#12.8): a watcher that cannot reopen its
// sockets says so on its Subscribe stream, at each change, without
// polling: the fatal error, each failed reopen, then the recovery. The
// reopens are made to fail by pointing the watcher's duplicate of the
// namespace descriptor at /dev/null (entering it fails), and to succeed
// again by pointing it back at the namespace.
func TestStuckReopenIsEvented(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node, sw := pr.Node, pr.Peer
	w, err := Open(context.Background(), &Config{NetNS: node.FD()})
	require.NoError(t, err)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.Subscribe(ctx)
	for ev := range ch { // the initial table
		require.IsType(t, &LinkEvent{}, ev)
		if len(ch) == 0 {
			break
		}
	}

	devnull, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(devnull)
	require.NoError(t, unix.Dup3(devnull, w.k.netns, unix.O_CLOEXEC))
	w.k.mu.Lock()
	w.k.notif.f.Close()
	w.k.mu.Unlock()

	next := func() *netpulse.ConditionEvent {
		t.Helper()
		for {
			select {
			case ev := <-ch:
				if c, ok := ev.(*netpulse.ConditionEvent); ok {
					return c
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no condition event")
			}
		}
	}
	ev := next()
	require.False(t, ev.Condition.OK)
	require.Equal(t, netpulse.ReasonFailing, ev.Reason)
	var lerr *Error
	require.ErrorAs(t, ev.Condition.Err, &lerr)
	require.Equal(t, "receive", lerr.Op)
	for range 3 { // backoff 10, 20, 40 ms: each failure is an event
		ev = next()
		require.False(t, ev.Condition.OK)
		require.ErrorAs(t, ev.Condition.Err, &lerr)
		require.Equal(t, "reopen", lerr.Op, "%v", ev.Condition.Err)
	}
	require.False(t, w.Snapshot().Condition.OK)

	require.NoError(t, unix.Dup3(node.FD(), w.k.netns, unix.O_CLOEXEC))
	for ev = next(); !ev.Condition.OK; ev = next() {
	}
	require.Equal(t, netpulse.ReasonWorking, ev.Reason)
	require.Equal(t, uint64(1), w.Snapshot().Counters.Reopens)
	// And the reopened sockets watch the node's namespace again.
	require.NoError(t, sw.SetDown("p2"))
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if carrierIs(ev, "eth2", false) {
				return
			}
		case <-deadline:
			t.Fatal("no event after the recovery")
		}
	}
}
