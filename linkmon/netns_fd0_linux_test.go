//go:build linux

package linkmon

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNetNSDuplicateIsNeverZero: a program started with its standard input
// closed has descriptor 0 free, and a duplicate of Config.NetNS numbered 0
// would read as "the caller's namespace" at the next socket reopen. Open
// duplicates above the standard descriptors. The check runs in a child
// process (this test binary again), which closes its descriptor 0: the
// other tests of this process keep theirs.
func TestNetNSDuplicateIsNeverZero(t *testing.T) {
	if os.Getenv("LINKMON_FD0_CHILD") == "1" {
		fd0Child(t)
		return
	}
	netlab.Require(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNetNSDuplicateIsNeverZero$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LINKMON_FD0_CHILD=1", "NETPULSE_REQUIRE_NETNS=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestNetNSDuplicateIsNeverZero")
}

func fd0Child(t *testing.T) {
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "fdz2", Peer: "pfdz2"}}})
	node := pr.Node
	require.NoError(t, unix.Close(0)) // as if started with <&-
	w, err := Open(context.Background(), &Config{NetNS: node.FD()})
	require.NoError(t, err)
	defer w.Close()
	require.GreaterOrEqual(t, w.k.netns, 3, "the duplicate took a standard descriptor")
	// The watcher watches the node's namespace, not this process's.
	names := map[string]bool{}
	for _, l := range w.Snapshot().Links {
		names[l.Name] = true
	}
	require.True(t, names["fdz2"], "the node's link is not watched: %v", names)
}
