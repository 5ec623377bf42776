package linkmon

import (
	"context"
	"sync"
)

// A Watcher watches the links of one network namespace. Its methods are safe
// for concurrent use.
type Watcher struct {
	c    *core
	k    *kernel
	once sync.Once
}

// Snapshot returns the state of every watched link now, with the watcher's
// counters and health.
func (w *Watcher) Snapshot() Snapshot {
	s := w.c.snapshot()
	w.k.counters(&s.Counters)
	return s
}

// Subscribe returns a channel that first delivers the current state of every
// watched link (Event.Initial, ordered by index), then every change. The
// channel is closed when ctx is done or the watcher is closed. A subscriber
// that falls behind gets intermediate states of a link coalesced, never
// lost latest states; it never delays the watcher or other subscribers.
// Its queue beyond the channel buffer is capped (fanout.DefaultLimit, 16384
// events, or twice the links at subscription if more): a subscriber that
// stops reading without cancelling loses the oldest events, superseded ones
// first, and the next event it receives counts them (Event.Dropped;
// Counters.QueueDrops). The stream also carries health events
// (Event.Health) when the watcher's sockets fail and are reopened.
func (w *Watcher) Subscribe(ctx context.Context) <-chan Event { return w.c.subscribe(ctx) }

// Close stops the watcher: it interrupts blocked socket reads, stops every
// goroutine the watcher started, closes every subscription channel and
// returns after all of them ended. It is idempotent and returns nil.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.k.close()
		w.c.stop()
	})
	return nil
}
