// Package fanout delivers events to subscribers without ever blocking the
// publisher: each subscriber has a queue in which undelivered events with
// the same key are coalesced into the latest (merge decides how), and a
// goroutine that feeds its channel. ipmon and ipmontest share it so that the
// fake has the real delivery guarantees.
package fanout

import (
	"context"
	"sync"
)

// Hub fans events of type E, keyed by K, out to subscribers.
type Hub[K comparable, E any] struct {
	key   func(*E) K
	merge func(old, new *E)
	wg    *sync.WaitGroup
	done  <-chan struct{}

	mu   sync.Mutex
	subs map[*sub[K, E]]struct{}
}

type sub[K comparable, E any] struct {
	ch     chan E
	notify chan struct{}

	mu      sync.Mutex
	queue   []E
	head    int
	pending map[K]int // index in queue of the undelivered event
}

// New returns a Hub. key identifies what an event is about; merge folds an
// undelivered old event into new (new is what gets delivered). Subscriber
// goroutines are counted in wg and stop when done is closed (their channels
// are then closed).
func New[K comparable, E any](key func(*E) K, merge func(old, new *E), wg *sync.WaitGroup, done <-chan struct{}) *Hub[K, E] {
	return &Hub[K, E]{key: key, merge: merge, wg: wg, done: done, subs: make(map[*sub[K, E]]struct{})}
}

// Subscribe registers a subscriber whose queue starts with initial. The
// channel is closed when ctx is done or the hub's done channel is closed.
func (h *Hub[K, E]) Subscribe(ctx context.Context, initial []E) <-chan E {
	s := &sub[K, E]{
		ch:      make(chan E),
		notify:  make(chan struct{}, 1),
		pending: make(map[K]int),
	}
	for i := range initial {
		h.put(s, initial[i])
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		close(s.ch)
		return s.ch
	default:
	}
	h.subs[s] = struct{}{}
	h.wg.Add(1)
	go h.feed(ctx, s)
	return s.ch
}

// Publish queues e for every subscriber. It never blocks on a subscriber.
func (h *Hub[K, E]) Publish(e E) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.put(s, e)
	}
}

func (h *Hub[K, E]) put(s *sub[K, E], e E) {
	s.mu.Lock()
	k := h.key(&e)
	if i, ok := s.pending[k]; ok {
		h.merge(&s.queue[i], &e)
		s.queue[i] = e
	} else {
		s.pending[k] = len(s.queue)
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (h *Hub[K, E]) pop(s *sub[K, E]) (E, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero E
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
		return zero, false
	}
	e := s.queue[s.head]
	s.queue[s.head] = zero
	delete(s.pending, h.key(&e))
	s.head++
	return e, true
}

func (h *Hub[K, E]) feed(ctx context.Context, s *sub[K, E]) {
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		close(s.ch)
	}()
	for {
		e, ok := h.pop(s)
		if !ok {
			select {
			case <-s.notify:
				continue
			case <-ctx.Done():
				return
			case <-h.done:
				return
			}
		}
		select {
		case s.ch <- e:
		case <-ctx.Done():
			return
		case <-h.done:
			return
		}
	}
}
