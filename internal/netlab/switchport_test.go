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
		time.Sleep(100 * time.Millisecond)
		_, err := d.Node.Ping("eth3", d.ServerAddr4, 20*time.Millisecond)
		require.Error(t, err, "cycle %d: answered while the port was down", i)
		t0 := time.Now()
		require.NoError(t, d.Switch.SetPortUp("p3"))
		_, err = d.Node.Ping("eth3", d.ServerAddr4, 100*time.Millisecond)
		require.NoError(t, err, "cycle %d: no answer within 100 ms of the port coming back", i)
		t.Logf("cycle %d: answered %v after the port came back", i, time.Since(t0))
	}
}
