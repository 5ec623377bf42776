// Package fanout delivers a stream of keyed events to many subscribers
// without ever blocking the publisher: each subscriber has a channel, and
// when it has no room, later events wait in a per-subscriber queue where an
// event for a key that is already waiting is merged into it, and the latest
// event of every key is delivered, in order per key.
//
// The queue is capped (WithLimit; DefaultLimit). Without the cap, a
// subscriber that stops reading without cancelling would keep every event
// merge refuses (deletions) and one event per key ever seen: unbounded under
// churn. When the queue is full, the oldest waiting event that a later event
// of the same key follows is dropped first, so the latest event of every key
// still arrives; only when every waiting event is the latest of its key (more
// keys wait than the cap) is the oldest one dropped, and with it that key's
// latest event. Drops are counted (Hub.Dropped) and told to the subscriber:
// the first event it receives after drops goes through the WithDropMark
// function with their number, or is preceded by an event of its own made by
// the WithDropEvent function.
//
// The common case (the channel has room, or the subscriber is parked in a
// receive, and nothing waits) is one non-blocking channel send per
// subscriber: no allocation, no goroutine handoff, and the key function is
// not even called.
//
// linkmon, ipmon and their fakes (linkmontest, ipmontest) share it, so that
// the fakes have the real delivery guarantees.
package fanout

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netpulse/netpulse"
)

// Merge combines a waiting event old with a newer event new of the same key;
// the result takes old's place in the queue. It returns false when the two
// must not be merged (new is then queued behind old), e.g. when old is a
// deletion that a subscriber must see.
type Merge[E any] func(old, new E) (E, bool)

// A Hub fans events of type E, keyed by K, out to subscribers. Its methods
// are safe for concurrent use; events published by concurrent Publish calls
// are delivered in the order the calls took the hub's lock.
type Hub[K comparable, E any] struct {
	buffer int
	key    func(E) K
	merge  Merge[E]
	limit  int
	mark   func(E, uint64) E
	notice func(uint64, time.Time) E

	mu     sync.Mutex
	subs   []*sub[K, E]
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	coalesced atomic.Uint64
	dropped   atomic.Uint64
}

// DefaultLimit is the default cap of a subscriber's queue: events waiting
// beyond its channel buffer.
const DefaultLimit = 16384

// An Option configures a Hub.
type Option[E any] func(*options[E])

type options[E any] struct {
	limit  int
	mark   func(E, uint64) E
	notice func(uint64, time.Time) E
}

// WithLimit caps the events waiting in each subscriber's queue (beyond its
// channel buffer) at n, or at twice the number of initial events of a
// subscription if that is more. n <= 0 means DefaultLimit.
func WithLimit[E any](n int) Option[E] { return func(o *options[E]) { o.limit = n } }

// WithDropMark sets the function that marks the first event a subscriber
// receives after the cap dropped events of its queue: mark returns e
// carrying dropped, the number of events lost since the subscriber's
// previous event.
func WithDropMark[E any](mark func(e E, dropped uint64) E) Option[E] {
	return func(o *options[E]) { o.mark = mark }
}

// WithDropEvent sets the function that makes the event a subscriber receives
// just before the first event after the cap dropped events of its queue:
// notice returns an event telling dropped, the number of events lost since
// the subscriber's previous event, and first, when the first of them was
// dropped. It can be combined with WithDropMark.
func WithDropEvent[E any](notice func(dropped uint64, first time.Time) E) Option[E] {
	return func(o *options[E]) { o.notice = notice }
}

// DropEvents is WithDropEvent for the packages' streams of netpulse.Event:
// the notice is a *netpulse.DropEvent carrying the count and the time of
// the first drop.
func DropEvents() Option[netpulse.Event] {
	return WithDropEvent(func(n uint64, first time.Time) netpulse.Event {
		return &netpulse.DropEvent{Time: first, Count: n}
	})
}

type item[K comparable, E any] struct {
	key K
	e   E
}

type sub[K comparable, E any] struct {
	h    *Hub[K, E]
	out  chan E
	kick chan struct{}

	mu     sync.Mutex
	queue  []item[K, E] // queue[head:] waits; queue[:head] is delivered (zeroed)
	head   int
	off    uint64       // position of queue[0] in the subscriber's stream
	last   map[K]uint64 // key -> position of its last waiting item
	busy   bool         // the forwarder holds an item it has not delivered yet
	closed bool

	limit      int       // most items waiting in queue[head:]
	superseded int       // waiting items a later item of the same key follows
	dropped    uint64    // dropped since the last item the forwarder took
	dropTime   time.Time // when the first of them was dropped
}

// keepQueue is the largest queue capacity a subscriber keeps for its next
// backlog once it caught up; a larger one is let go.
const keepQueue = 16

// New returns a hub whose subscriptions have channels of capacity buffer
// (0 is allowed: events then wait in the queue, merged, until the
// subscriber receives). key tells what an event is about; it is called only
// when an event has to wait. merge may be nil: events are then never merged.
// Each subscriber's queue is capped at DefaultLimit unless an option says
// otherwise.
func New[K comparable, E any](buffer int, key func(E) K, merge Merge[E], opts ...Option[E]) *Hub[K, E] {
	var o options[E]
	for _, opt := range opts {
		opt(&o)
	}
	if o.limit <= 0 {
		o.limit = DefaultLimit
	}
	return &Hub[K, E]{buffer: buffer, key: key, merge: merge, limit: o.limit, mark: o.mark, notice: o.notice,
		done: make(chan struct{})}
}

// Coalesced returns how many events were merged into waiting ones.
func (h *Hub[K, E]) Coalesced() uint64 { return h.coalesced.Load() }

// Dropped returns how many events the queue cap dropped, over all
// subscribers.
func (h *Hub[K, E]) Dropped() uint64 { return h.dropped.Load() }

// Subscribe adds a subscriber that first receives initial (in order), then
// every published event. The channel is closed when ctx is done or the hub
// is closed (at once if it already is). For initial and later events to be
// consistent, the caller should hold the lock under which it computes
// initial and publishes.
func (h *Hub[K, E]) Subscribe(ctx context.Context, initial []E) <-chan E {
	s := &sub[K, E]{h: h, out: make(chan E, h.buffer), kick: make(chan struct{}, 1), limit: max(h.limit, 2*len(initial))}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.out)
		return s.out
	}
	for _, e := range initial {
		s.publish(e)
	}
	h.subs = append(h.subs, s)
	h.wg.Add(1)
	go s.forward(ctx)
	return s.out
}

// Publish delivers e to every subscriber. It never blocks on a subscriber.
func (h *Hub[K, E]) Publish(e E) {
	h.mu.Lock()
	for _, s := range h.subs {
		s.publish(e)
	}
	h.mu.Unlock()
}

// Len returns the number of subscribers.
func (h *Hub[K, E]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close closes every subscription and returns once their goroutines have
// ended. It is idempotent.
func (h *Hub[K, E]) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (s *sub[K, E]) publish(e E) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.head == len(s.queue) && !s.busy {
		select {
		case s.out <- e:
			return
		default:
		}
	}
	// Slow path: the subscriber is behind.
	h := s.h
	k := h.key(e) // by value: a pointer would make e escape on the fast path too
	pos, waiting := s.last[k]
	if waiting && h.merge != nil {
		it := &s.queue[pos-s.off]
		if m, ok := h.merge(it.e, e); ok {
			it.e = m
			h.coalesced.Add(1)
			return
		}
	}
	if waiting {
		s.superseded++ // the waiting item of k is no longer its latest
	} else if s.last == nil {
		s.last = make(map[K]uint64)
	}
	s.last[k] = s.off + uint64(len(s.queue))
	s.queue = append(s.queue, item[K, E]{k, e})
	if len(s.queue)-s.head > s.limit {
		s.drop()
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *sub[K, E]) forward(ctx context.Context) {
	defer s.h.wg.Done()
	defer s.stop()
	for {
		s.mu.Lock()
		if s.head == len(s.queue) {
			s.busy = false
			s.mu.Unlock()
			select {
			case <-s.kick:
				continue
			case <-ctx.Done():
				return
			case <-s.h.done:
				return
			}
		}
		it := s.queue[s.head]
		s.queue[s.head] = item[K, E]{}
		s.leave(it.key, s.head)
		s.head++
		s.compact()
		var notice E
		noticed := false
		if s.dropped > 0 {
			if s.h.mark != nil {
				it.e = s.h.mark(it.e, s.dropped)
			}
			if s.h.notice != nil {
				notice, noticed = s.h.notice(s.dropped, s.dropTime), true
			}
			s.dropped = 0
		}
		s.busy = true
		s.mu.Unlock()
		if noticed && !s.send(ctx, notice) {
			return
		}
		if !s.send(ctx, it.e) {
			return
		}
	}
}

// send delivers e to the subscriber; it returns false, with e undelivered,
// when ctx is done or the hub is closed first.
func (s *sub[K, E]) send(ctx context.Context, e E) bool {
	select {
	case s.out <- e:
		return true
	case <-ctx.Done():
	case <-s.h.done:
	}
	return false
}

// drop removes one waiting item because the queue is over its cap: the
// oldest one that a later item of its key follows, so that the latest item
// of every key stays; if there is none, the oldest. s.mu is held.
func (s *sub[K, E]) drop() {
	i := s.head
	if s.superseded > 0 {
		for j := s.head; j < len(s.queue); j++ {
			if s.last[s.queue[j].key] != s.off+uint64(j) {
				i = j
				break
			}
		}
	}
	s.leave(s.queue[i].key, i)
	if i == s.head {
		s.queue[i] = item[K, E]{}
		s.head++
	} else {
		// Close the gap; the items behind it move one place up.
		copy(s.queue[i:], s.queue[i+1:])
		s.queue[len(s.queue)-1] = item[K, E]{}
		s.queue = s.queue[:len(s.queue)-1]
		for j := i; j < len(s.queue); j++ {
			if k := s.queue[j].key; s.last[k] == s.off+uint64(j+1) {
				s.last[k] = s.off + uint64(j)
			}
		}
	}
	if s.dropped == 0 && s.h.notice != nil {
		s.dropTime = time.Now()
	}
	s.dropped++
	s.h.dropped.Add(1)
	s.compact()
}

// leave accounts for the waiting item queue[i], of key k, leaving the
// queue: it was k's latest, or one a later item of k superseded. s.mu is
// held.
func (s *sub[K, E]) leave(k K, i int) {
	if s.last[k] == s.off+uint64(i) {
		delete(s.last, k)
	} else {
		s.superseded--
	}
}

// compact drops the delivered prefix of the queue: all of it when nothing
// waits (keeping a small backing array for the next backlog), else when it
// is at least half the queue, so that a subscriber that never quite catches
// up does not grow the queue forever. s.mu is held.
func (s *sub[K, E]) compact() {
	switch {
	case s.head == len(s.queue):
		s.off += uint64(len(s.queue))
		s.head = 0
		if cap(s.queue) > keepQueue {
			s.queue = nil
		} else {
			s.queue = s.queue[:0]
		}
	case s.head >= keepQueue && 2*s.head >= len(s.queue):
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.off += uint64(s.head)
		s.head = 0
	}
}

func (s *sub[K, E]) stop() {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.last = nil
	s.mu.Unlock()
	close(s.out)
	s.h.mu.Lock()
	if i := slices.Index(s.h.subs, s); i >= 0 {
		s.h.subs = slices.Delete(s.h.subs, i, i+1)
	}
	s.h.mu.Unlock()
}
