package linkmon

import (
	"context"
	"sync"

	"github.com/netpulse/netpulse"
)

// A Watcher watches the links of one network namespace. Its methods are safe
// for concurrent use.
type Watcher struct {
	c    *core
	k    *kernel
	once sync.Once
}

// Open starts watching the links of a network namespace. A nil cfg means
// the defaults. ctx bounds the setup (entering the namespace, the first
// dump; Open returns ctx's error if it is done before the watcher runs);
// cancelling it later has no effect: Close ends the watcher.
//
// It returns an error wrapping os.ErrInvalid for an invalid Config (see
// Config.Validate), or an *Error: wrapping os.ErrNotExist when a selected
// interface does not exist (unless Config.AllowMissing), os.ErrPermission
// when the namespace cannot be entered, errors.ErrUnsupported on systems
// other than Linux.
func Open(ctx context.Context, cfg *Config) (*Watcher, error) {
	vc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return open(ctx, vc)
}

// Snapshot returns the state of every watched link now, with the watcher's
// counters and condition.
func (w *Watcher) Snapshot() Snapshot {
	s := w.c.snapshot()
	w.k.counters(&s.Counters)
	return s
}

// Subscribe returns a channel that first delivers the current state of every
// watched link (*LinkEvent with Initial set, ordered by index) and, if the
// watcher's sockets are failing, a *netpulse.ConditionEvent saying so; then
// every change. It sends exactly three types:
//
//   - *LinkEvent: a change of one link's state (the full new and previous
//     state);
//   - *netpulse.ConditionEvent: the watcher's own condition changed (its
//     sockets failed, a reopen failed, or they were reopened; Reason is
//     netpulse.ReasonFailing or netpulse.ReasonWorking);
//   - *netpulse.DropEvent: this subscriber fell behind its queue's cap and
//     Count events were dropped; it comes just before the next event.
//
// The channel is closed when ctx is done or the watcher is closed. A
// subscriber that falls behind gets intermediate states of a link coalesced
// into one event (its Previous is the state the subscriber saw last;
// Counters.Coalesced), never the latest states lost; it never delays the
// watcher or other subscribers. Its queue beyond the channel buffer is
// capped (16384 events, or twice the links at subscription if more): a
// subscriber that stops reading without cancelling loses the oldest events,
// superseded ones first, and is told by a *netpulse.DropEvent
// (Counters.EventsDropped). Events are shared by every subscriber: never
// modify one.
func (w *Watcher) Subscribe(ctx context.Context) <-chan netpulse.Event { return w.c.subscribe(ctx) }

// Close stops the watcher: it interrupts blocked socket reads, closes its
// sockets and its duplicate of the namespace descriptor, stops every
// goroutine the watcher started, closes every subscription channel and
// returns after all of them ended. It is idempotent and returns nil.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		w.k.close()
		w.c.stop()
	})
	return nil
}
