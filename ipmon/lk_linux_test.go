//go:build linux

package ipmon

import (
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestLabSchedulerNotBlockedByTransportLock: without BFD targets the
// scheduler never waits for the transport's lock, which Add (opening
// sockets) and the carrier-return neighbour flush hold: with the lock held
// for 300 ms, echo probes every 10 ms still go out.
func TestLabSchedulerNotBlockedByTransportLock(t *testing.T) {
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("lk", 47)
	require.NoError(t, err)
	p := openIn(t, pair.Node, Config{Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond})
	w := subscribe(t, p)
	require.NoError(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: pair.NodeDev}))
	w.waitTarget(pair.NodeDev, pair.ServerAddr4, TargetUp, 5*time.Second)
	tr := p.tr.(*linuxTransport)
	before := p.Snapshot().Sent
	tr.lk.Lock()
	time.Sleep(300 * time.Millisecond)
	during := p.Snapshot().Sent
	tr.lk.Unlock()
	// 30 intervals; at least a third of them, on a loaded machine.
	require.GreaterOrEqual(t, during-before, uint64(10), "the scheduler waited for the transport's lock")
}
