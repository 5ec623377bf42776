// Package stream is the event stream that linkmon.Watcher and the
// linkmontest fake share, so that the fake delivers exactly what the
// watcher delivers: the replay of the table to a new subscriber, link
// events numbered in sequence, the component's condition and its changes
// (netpulse.ConditionEvent), coalescing of a slow subscriber's waiting
// events per link, and the cap of its queue, told by a netpulse.DropEvent.
package stream

import (
	"context"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// A Stream delivers link events of type E (one link's change each, keyed by
// its index) and condition events to subscribers. It is not safe for
// concurrent use: its owner calls it under the lock under which it changes
// its table, so that a subscriber's replay and the events that follow it
// are consistent.
type Stream[E netpulse.Event] struct {
	hub      *fanout.Hub[int, netpulse.Event]
	seq      uint64
	events   uint64
	cond     netpulse.Condition
	condTime time.Time // when cond was last set
}

// New returns a stream whose subscriptions have channels of capacity
// buffer. key is the index of an event's link (never 0); coalesce merges a
// waiting event with a newer one of the same link, or refuses (false).
func New[E netpulse.Event](buffer int, key func(E) int, coalesce func(old, newer E) (E, bool)) *Stream[E] {
	k := func(e netpulse.Event) int {
		if l, ok := e.(E); ok {
			return key(l)
		}
		return 0 // condition events: no link has index 0, never merged
	}
	merge := func(old, newer netpulse.Event) (netpulse.Event, bool) {
		o, ok1 := old.(E)
		n, ok2 := newer.(E)
		if !ok1 || !ok2 {
			return old, false
		}
		return coalesce(o, n)
	}
	return &Stream[E]{
		hub:  fanout.New(buffer, k, merge, fanout.DropEvents()),
		cond: netpulse.Condition{OK: true},
	}
}

// Next numbers the next change and returns its sequence number.
func (s *Stream[E]) Next() uint64 {
	s.seq++
	return s.seq
}

// Seq returns the sequence number of the latest change.
func (s *Stream[E]) Seq() uint64 { return s.seq }

// Publish delivers a link event to every subscriber and counts it.
func (s *Stream[E]) Publish(e E) {
	s.events++
	s.hub.Publish(e)
}

// Events returns how many link events were published.
func (s *Stream[E]) Events() uint64 { return s.events }

// Coalesced returns how many events were merged into waiting ones.
func (s *Stream[E]) Coalesced() uint64 { return s.hub.Coalesced() }

// Dropped returns how many events the subscribers' caps dropped.
func (s *Stream[E]) Dropped() uint64 { return s.hub.Dropped() }

// Condition returns the component's condition.
func (s *Stream[E]) Condition() netpulse.Condition { return s.cond }

// SetCondition records a failure (err != nil: the component is not OK
// since its first failure in a row, with err the latest) or a recovery
// (err == nil), and delivers the change as a *netpulse.ConditionEvent.
// Every failure is delivered, a repeated one too (a failed retry); a
// recovery of a component that is OK is not.
func (s *Stream[E]) SetCondition(err error, now time.Time) {
	prev := s.cond
	if err == nil {
		if prev.OK {
			return
		}
		s.cond = netpulse.Condition{OK: true, Since: now}
	} else {
		s.cond = netpulse.Condition{Err: err, Since: now}
		if !prev.OK {
			s.cond.Since = prev.Since
		}
	}
	s.condTime = now
	s.hub.Publish(s.conditionEvent(prev, now))
}

func (s *Stream[E]) conditionEvent(prev netpulse.Condition, now time.Time) *netpulse.ConditionEvent {
	r := netpulse.ReasonWorking
	if !s.cond.OK {
		r = netpulse.ReasonFailing
	}
	return &netpulse.ConditionEvent{Time: now, Condition: s.cond, Previous: prev, Reason: r}
}

// Subscribe adds a subscriber that first receives initial (the table, one
// event per link, ordered by index) and, when the component is not OK, a
// condition event saying so; then every event published. The channel is
// closed when ctx is done or the stream is closed.
func (s *Stream[E]) Subscribe(ctx context.Context, initial []E) <-chan netpulse.Event {
	evs := make([]netpulse.Event, len(initial), len(initial)+1)
	for i, e := range initial {
		evs[i] = e
	}
	if !s.cond.OK {
		evs = append(evs, s.conditionEvent(netpulse.Condition{OK: true}, s.condTime))
	}
	return s.hub.Subscribe(ctx, evs)
}

// Close closes every subscription and returns once their goroutines ended.
// It is idempotent.
func (s *Stream[E]) Close() { s.hub.Close() }
