// Package fanout delivers a stream of keyed events to many subscribers
// without ever blocking the publisher: each subscriber has a buffered
// channel, and when it is full, later events wait in a per-subscriber queue
// where an event for a key that is already waiting is merged into it, so
// memory stays bounded by the buffer plus one waiting event per key and the
// latest event of every key is always delivered, in order per key.
//
// The common case (the channel has room and nothing waits) is one
// non-blocking channel send per subscriber: no allocation, no goroutine
// handoff.
package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// Merge combines a waiting event old with a newer event new of the same key.
// It returns false when the two must not be merged (new is queued behind old).
type Merge[E any] func(old, new E) (E, bool)

// A Hub fans events out to subscribers. Its methods are safe for concurrent
// use, but Publish calls must be serialised by the caller (they are ordered).
type Hub[E any] struct {
	buffer int
	merge  Merge[E]

	mu     sync.Mutex
	subs   []*sub[E]
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	coalesced atomic.Uint64
}

type item[E any] struct {
	key int
	e   E
}

type sub[E any] struct {
	h      *Hub[E]
	out    chan E
	kick   chan struct{}
	mu     sync.Mutex
	queue  []item[E]
	busy   bool // the forwarder holds an item it has not delivered yet
	closed bool
}

// New returns a hub whose subscriptions have channels of capacity buffer.
func New[E any](buffer int, merge Merge[E]) *Hub[E] {
	return &Hub[E]{buffer: buffer, merge: merge, done: make(chan struct{})}
}

// Coalesced returns how many events were merged into later ones.
func (h *Hub[E]) Coalesced() uint64 { return h.coalesced.Load() }

// Subscribe adds a subscriber that first receives initial (in order), then
// every published event. The channel is closed when ctx is done or the hub
// is closed. The caller must not Publish concurrently (hold the lock that
// serialises Publish) so that initial and later events are consistent.
func (h *Hub[E]) Subscribe(ctx context.Context, keys []int, initial []E) <-chan E {
	s := &sub[E]{h: h, out: make(chan E, h.buffer), kick: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.out)
		return s.out
	}
	for i, e := range initial {
		s.publish(keys[i], e)
	}
	h.subs = append(h.subs, s)
	h.wg.Add(1)
	go s.forward(ctx)
	return s.out
}

// Publish delivers e to every subscriber. It never blocks on a subscriber.
func (h *Hub[E]) Publish(key int, e E) {
	h.mu.Lock()
	for _, s := range h.subs {
		s.publish(key, e)
	}
	h.mu.Unlock()
}

// Len returns the number of subscribers.
func (h *Hub[E]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close closes every subscription and waits until their goroutines ended.
// It is idempotent.
func (h *Hub[E]) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (s *sub[E]) publish(key int, e E) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if len(s.queue) == 0 && !s.busy {
		select {
		case s.out <- e:
			return
		default:
		}
	}
	// Slow path: the subscriber is behind.
	for i := len(s.queue) - 1; i >= 0; i-- {
		if s.queue[i].key != key {
			continue
		}
		if m, ok := s.h.merge(s.queue[i].e, e); ok {
			s.queue[i].e = m
			s.h.coalesced.Add(1)
			return
		}
		break
	}
	s.queue = append(s.queue, item[E]{key, e})
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *sub[E]) forward(ctx context.Context) {
	defer s.h.wg.Done()
	defer s.stop()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
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
		it := s.queue[0]
		s.queue[0] = item[E]{}
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // let the backing array go
		}
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

func (s *sub[E]) stop() {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	close(s.out)
	s.h.mu.Lock()
	for i, x := range s.h.subs {
		if x == s {
			s.h.subs = append(s.h.subs[:i], s.h.subs[i+1:]...)
			break
		}
	}
	s.h.mu.Unlock()
}
