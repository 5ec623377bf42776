//go:build !race

package linkmon

import (
	"context"
	"testing"
	"time"

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
