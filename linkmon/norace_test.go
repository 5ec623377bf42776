//go:build !race

package linkmon

import (
	"context"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// TestEventPathAllocs: a change costs one allocation per eventBlock changes
// on the way from a decoded message to a subscriber (the events are carved
// out of blocks and shared by every subscriber), however many subscribers.
func TestEventPathAllocs(t *testing.T) {
	c := newCore(testConfig(t, Config{}))
	c.start()
	defer c.stop()
	c.apply(msg(3, "eth2", true, true), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chs := [...]<-chan netpulse.Event{c.subscribe(ctx), c.subscribe(ctx), c.subscribe(ctx)}
	for _, ch := range chs {
		<-ch
	}
	msgs := [2]*linkMsg{msg(3, "eth2", true, false), msg(3, "eth2", true, true)}
	i := 0
	allocs := testing.AllocsPerRun(10*eventBlock, func() {
		c.apply(msgs[i&1], time.Now())
		for _, ch := range chs {
			<-ch
		}
		i++
	})
	require.LessOrEqual(t, allocs, 1.0/eventBlock+0.01)
}

// TestEventPathBytes: the garbage a change makes is its event, with no more
// than 1% lost to the rounding of the event blocks to the allocator's size
// classes (eventBlock fills one): the cost of the event path under a
// garbage collector is set by bytes, not by allocations.
func TestEventPathBytes(t *testing.T) {
	c := newCore(testConfig(t, Config{}))
	c.start()
	defer c.stop()
	c.apply(msg(3, "eth2", true, true), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.subscribe(ctx)
	<-ch
	msgs := [2]*linkMsg{msg(3, "eth2", true, false), msg(3, "eth2", true, true)}
	const n = 100 * eventBlock
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		c.apply(msgs[i&1], time.Now())
		<-ch
	}
	runtime.ReadMemStats(&m1)
	perEvent := float64(m1.TotalAlloc-m0.TotalAlloc) / n
	size := float64(unsafe.Sizeof(LinkEvent{}))
	t.Logf("%.1f bytes per change, LinkEvent is %.0f bytes", perEvent, size)
	require.LessOrEqual(t, perEvent, 1.01*size)
	require.GreaterOrEqual(t, perEvent, size) // the events are new: none is reused
}
