//go:build linux

package linkmon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// nsFDs counts this process's descriptors open on the namespace that fd
// refers to.
func nsFDs(t *testing.T, fd int) int {
	t.Helper()
	want, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	require.NoError(t, err)
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == want {
			n++
		}
	}
	return n
}

// TestNetNSDescriptorIsDuplicated (#12.7): Open duplicates Config.NetNS
// with F_DUPFD_CLOEXEC, so the caller may close its descriptor at once (as
// the doc allows): a later reopen of the sockets still enters the right
// namespace through the duplicate, which is close-on-exec and closed by
// Close.
func TestNetNSDescriptorIsDuplicated(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node, sw := pr.Node, pr.Peer

	mine, err := unix.FcntlInt(uintptr(node.FD()), unix.F_DUPFD_CLOEXEC, 0)
	require.NoError(t, err)
	before := nsFDs(t, node.FD()) // the lab's and mine
	w, err := Open(context.Background(), &Config{NetNS: mine})
	require.NoError(t, err)
	defer w.Close()
	require.Equal(t, before+1, nsFDs(t, node.FD()), "one duplicate")
	require.NotEqual(t, mine, w.k.netns)
	flags, err := unix.FcntlInt(uintptr(w.k.netns), unix.F_GETFD, 0)
	require.NoError(t, err)
	require.NotZero(t, flags&unix.FD_CLOEXEC, "the duplicate is close-on-exec")
	require.NoError(t, unix.Close(mine)) // the caller lets go

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := w.Subscribe(ctx)
	w.k.mu.Lock()
	w.k.notif.f.Close() // a fatal error: the sockets are reopened in the namespace
	w.k.mu.Unlock()
	require.Eventually(t, func() bool { return w.Snapshot().Counters.Reopens == 1 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, w.Snapshot().Condition.OK)
	require.NoError(t, sw.SetDown("p2"))
	deadline := time.After(10 * time.Second)
	for down := false; !down; {
		select {
		case ev := <-ch:
			down = carrierIs(ev, "eth2", false)
		case <-deadline:
			t.Fatal("the reopened sockets do not watch the node's namespace")
		}
	}
	require.NoError(t, w.Close())
	require.Equal(t, before-1, nsFDs(t, node.FD()), "Close closes the duplicate (and mine is closed)")
}
