//go:build linux

package linkmon

import (
	"context"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestReopenAfterFatalSocketError closes the notification socket behind the
// watcher's back (a fatal receive error): the watcher must report it in its
// health, reopen with backoff, resynchronise and keep delivering events.
func TestReopenAfterFatalSocketError(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	node, err := lab.NewNS("node")
	require.NoError(t, err)
	sw, err := lab.NewNS("sw")
	require.NoError(t, err)
	require.NoError(t, lab.Veth(node, "eth2", sw, "p2", nil))
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
	h := w.Snapshot().Health
	require.True(t, h.Healthy)
	var lerr *Error
	require.ErrorAs(t, h.Err, &lerr)
	require.Equal(t, "receive", lerr.Op)

	deadline := time.After(10 * time.Second)
	for down := false; !down; {
		select {
		case ev := <-ch:
			down = ev.State.Name == "eth2" && !ev.State.Carrier
		case <-deadline:
			t.Fatal("carrier loss during the outage was not evented")
		}
	}
	// And the new socket delivers.
	require.NoError(t, sw.SetUp("p2"))
	for up := false; !up; {
		select {
		case ev := <-ch:
			up = ev.State.Name == "eth2" && ev.State.Carrier
		case <-deadline:
			t.Fatal("no event from the reopened socket")
		}
	}
}
