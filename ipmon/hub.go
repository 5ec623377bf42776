package ipmon

import (
	"context"
	"sync"
)

// hub fans events out to subscribers. publish never blocks: each
// subscriber has a queue in which the undelivered events of one target (or
// interface) are coalesced into the latest, and a goroutine that feeds its
// channel.
type hub struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	wg     *sync.WaitGroup
	done   <-chan struct{}
	closed bool
}

// evKey identifies what an event is about, for coalescing.
type evKey struct {
	kind  EventKind
	iface string
	k     key
}

func keyOf(ev *Event) evKey {
	if ev.Kind == VerdictChanged {
		return evKey{kind: VerdictChanged, iface: ev.Interface}
	}
	return evKey{kind: TargetChanged, k: ev.Target.key()}
}

type sub struct {
	ch     chan Event
	notify chan struct{}

	mu      sync.Mutex
	queue   []Event
	head    int
	pending map[evKey]int // index in queue of the undelivered event
}

func (h *hub) init(wg *sync.WaitGroup, done <-chan struct{}) {
	h.subs = make(map[*sub]struct{})
	h.wg = wg
	h.done = done
}

// subscribe registers a subscriber whose queue starts with initial.
func (h *hub) subscribe(ctx context.Context, initial []Event) <-chan Event {
	s := &sub{
		ch:      make(chan Event),
		notify:  make(chan struct{}, 1),
		pending: make(map[evKey]int),
	}
	for i := range initial {
		s.put(initial[i])
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

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.put(ev)
	}
}

// put queues ev, coalescing it with an undelivered event of the same key.
func (s *sub) put(ev Event) {
	s.mu.Lock()
	k := keyOf(&ev)
	if i, ok := s.pending[k]; ok {
		old := &s.queue[i]
		ev.Coalesced = old.Coalesced + 1
		ev.Previous, ev.PreviousVerdict = old.Previous, old.PreviousVerdict
		ev.Initial = old.Initial && ev.Initial
		s.queue[i] = ev
	} else {
		s.pending[k] = len(s.queue)
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sub) pop() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
		return Event{}, false
	}
	ev := s.queue[s.head]
	s.queue[s.head] = Event{}
	delete(s.pending, keyOf(&ev))
	s.head++
	return ev, true
}

func (h *hub) feed(ctx context.Context, s *sub) {
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		close(s.ch)
	}()
	for {
		ev, ok := s.pop()
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
		case s.ch <- ev:
		case <-ctx.Done():
			return
		case <-h.done:
			return
		}
	}
}
