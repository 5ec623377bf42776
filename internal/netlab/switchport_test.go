//go:build linux

package netlab_test

import (
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestSetPortUpForwardsAtOnce: on NIC-like veths through a bridge, after
// the node's switch port went down and came back with SetPortUp, the
// node's echo to the server is answered at once (first attempt within
// 100 ms), in each of three cycles. With a plain SetUp the bridge port
// stays disabled until the kernel's non-urgent linkwatch run, up to 1 s.
func TestSetPortUpForwardsAtOnce(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	d, err := lab.NewIPMonDualNIC("", 48, true)
	require.NoError(t, err)
	n3, err := d.Node.Link("eth3")
	require.NoError(t, err)
	p3, err := d.Switch.Link("p3")
	require.NoError(t, err)
	require.Equal(t, n3.Index, p3.Index, "NIC-like: equal ifindex at both ends")
	_, err = d.Node.Ping("eth3", d.ServerAddr4, 2*time.Second)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, d.Switch.SetDown("p3"))
		// No ping while the port is down: it would leave an INCOMPLETE
		// neighbour entry whose next solicitation is up to 1 s away
		// (what ipmon flushes on carrier return). The node's carrier
		// query also makes the kernel process eth3's carrier loss (and
		// flush eth3's neighbours) now.
		require.Eventually(t, func() bool {
			up, err := d.Node.Carrier("eth3")
			return err == nil && !up
		}, 2*time.Second, 5*time.Millisecond, "cycle %d: eth3 keeps its carrier with the port down", i)
		t0 := time.Now()
		require.NoError(t, d.Switch.SetPortUp("p3"))
		// The node's own carrier-up event is urgent, but a ping sent
		// before the kernel has run it meets eth3's idle (noop) qdisc
		// and its ARP request is dropped: wait for the node to see its
		// carrier, as ipmon and linkmon do before they act.
		require.Eventually(t, func() bool {
			up, err := d.Node.Carrier("eth3")
			return err == nil && up
		}, 2*time.Second, time.Millisecond, "cycle %d: eth3 without carrier after the port came back", i)
		_, err = d.Node.Ping("eth3", d.ServerAddr4, 100*time.Millisecond)
		require.NoError(t, err, "cycle %d: no answer within 100 ms of the port coming back", i)
		t.Logf("cycle %d: answered %v after the port came back", i, time.Since(t0))
	}
}
