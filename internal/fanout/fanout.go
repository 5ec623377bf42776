// Package fanout delivers a stream of keyed events to many subscribers
// without ever blocking the publisher: each subscriber has a channel, and
// when it has no room, later events wait in a per-subscriber queue where an
// event for a key that is already waiting is merged into it, so memory stays
// bounded by the buffer plus one waiting event per key (plus the events merge
// refused) and the latest event of every key is always delivered, in order
// per key.
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

	mu     sync.Mutex
	subs   []*sub[K, E]
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	coalesced atomic.Uint64
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
}

// keepQueue is the largest queue capacity a subscriber keeps for its next
// backlog once it caught up; a larger one is let go.
const keepQueue = 16

// New returns a hub whose subscriptions have channels of capacity buffer
// (0 is allowed: events then wait in the queue, merged, until the
// subscriber receives). key tells what an event is about; it is called only
// when an event has to wait. merge may be nil: events are then never merged.
func New[K comparable, E any](buffer int, key func(E) K, merge Merge[E]) *Hub[K, E] {
	return &Hub[K, E]{buffer: buffer, key: key, merge: merge, done: make(chan struct{})}
}

// Coalesced returns how many events were merged into waiting ones.
func (h *Hub[K, E]) Coalesced() uint64 { return h.coalesced.Load() }

// Subscribe adds a subscriber that first receives initial (in order), then
// every published event. The channel is closed when ctx is done or the hub
// is closed (at once if it already is). For initial and later events to be
// consistent, the caller should hold the lock under which it computes
// initial and publishes.
func (h *Hub[K, E]) Subscribe(ctx context.Context, initial []E) <-chan E {
	s := &sub[K, E]{h: h, out: make(chan E, h.buffer), kick: make(chan struct{}, 1)}
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
	if pos, ok := s.last[k]; ok && h.merge != nil {
		it := &s.queue[pos-s.off]
		if m, ok := h.merge(it.e, e); ok {
			it.e = m
			h.coalesced.Add(1)
			return
		}
	}
	if s.last == nil {
		s.last = make(map[K]uint64)
	}
	s.last[k] = s.off + uint64(len(s.queue))
	s.queue = append(s.queue, item[K, E]{k, e})
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
		if s.last[it.key] == s.off+uint64(s.head) {
			delete(s.last, it.key)
		}
		s.head++
		s.compact()
		s.busy = true
		s.mu.Unlock()
		select {
		case s.out <- it.e:
		case <-ctx.Done():
			return
		case <-s.h.done:
			return
		}
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
