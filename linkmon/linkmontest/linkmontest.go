// Package linkmontest provides a fake link source for the unit tests of
// packages that consume linkmon: scripted carrier, admin and presence
// transitions, delivered exactly like a linkmon.Watcher delivers them (the
// current state of every link first, then linkmon.Event values carrying the
// full new and previous state; a slow subscriber gets intermediate states
// coalesced, never the latest lost). It needs no kernel and works inside
// testing/synctest bubbles.
package linkmontest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse/internal/fanout"
	"github.com/netpulse/netpulse/linkmon"
)

// Link returns the state of a present, administratively up link, with or
// without carrier: a convenient start for New and Set.
func Link(index int, name string, carrier bool) linkmon.State {
	oper := linkmon.OperUp
	if !carrier {
		oper = linkmon.OperLowerLayerDown
	}
	return linkmon.State{Index: index, Name: name, Present: true, Carrier: carrier, KernelCarrier: carrier,
		AdminUp: true, Oper: oper, MTU: 1500}
}

// A Source is a fake linkmon.Watcher. Its methods are safe for concurrent
// use. Create it with New and Close it.
type Source struct {
	mu     sync.Mutex
	links  map[int]linkmon.State
	seq    uint64
	events uint64
	hub    *fanout.Hub[int, linkmon.Event]
	health linkmon.Health
	closed bool
}

// New returns a Source holding the given links (each must have a distinct
// Index). Subscriptions have a channel buffer of 64, like the watcher's
// default.
func New(links ...linkmon.State) *Source {
	s := &Source{links: make(map[int]linkmon.State), health: linkmon.Health{Healthy: true},
		hub: fanout.New(64, eventLink, linkmon.Event.Coalesce, fanout.WithDropMark(linkmon.Event.AddDropped))}
	now := time.Now()
	for _, l := range links {
		l.Present = true
		l.Changed = now
		s.links[l.Index] = l
	}
	return s
}

func eventLink(e linkmon.Event) int { return e.State.Index }

// Subscribe behaves like linkmon.Watcher.Subscribe.
func (s *Source) Subscribe(ctx context.Context) <-chan linkmon.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]int, 0, len(s.links))
	for i := range s.links {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	initial := make([]linkmon.Event, len(keys))
	for n, i := range keys {
		initial[n] = linkmon.Event{State: s.links[i], Initial: true, Seq: s.seq, Time: s.links[i].Changed}
	}
	if !s.health.Healthy {
		h := s.health
		initial = append(initial, linkmon.Event{Health: &h, Initial: true, Seq: s.seq, Time: h.ErrTime})
	}
	return s.hub.Subscribe(ctx, initial)
}

// Snapshot behaves like linkmon.Watcher.Snapshot.
func (s *Source) Snapshot() linkmon.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := linkmon.Snapshot{Health: s.health}
	for _, l := range s.links {
		snap.Links = append(snap.Links, l)
	}
	slices.SortFunc(snap.Links, func(a, b linkmon.State) int { return a.Index - b.Index })
	snap.Counters.Events = s.events
	snap.Counters.Coalesced = s.hub.Coalesced()
	snap.Counters.QueueDrops = s.hub.Dropped()
	return snap
}

// Set replaces the state of the link st.Index (adding it if new; a State
// with Present false removes it) and emits the event, as the watcher would:
// a Set that changes nothing visible (everything but Changed, Ups and
// Downs) emits nothing. Changed, Ups and Downs are maintained for the
// caller.
func (s *Source) Set(st linkmon.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(st)
}

func (s *Source) set(st linkmon.State) {
	if s.closed {
		return
	}
	prev, had := s.links[st.Index]
	if !had && !st.Present {
		return
	}
	if had {
		st.Ups, st.Downs = prev.Ups, prev.Downs
		if st.Carrier && !prev.Carrier {
			st.Ups++
		} else if !st.Carrier && prev.Carrier {
			st.Downs++
		}
		st.Changed = prev.Changed
		if reflect.DeepEqual(st, prev) {
			return
		}
	}
	st.Changed = time.Now()
	if st.Present {
		s.links[st.Index] = st
	} else {
		delete(s.links, st.Index)
	}
	s.seq++
	s.events++
	s.hub.Publish(linkmon.Event{State: st, Previous: prev, Seq: s.seq, Time: st.Changed})
}

// SetHealth sets the fake watcher's health and emits it as a health event,
// as the watcher does when its sockets fail (Healthy false with Err) and
// when they are reopened (Healthy true).
func (s *Source) SetHealth(h linkmon.Health) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if h.ErrTime.IsZero() && h.Err != nil {
		h.ErrTime = time.Now()
	}
	s.health = h
	s.seq++
	s.hub.Publish(linkmon.Event{Health: &h, Seq: s.seq, Time: time.Now()})
}

// Update applies fn to a copy of the named link's state and Sets it, all
// under one lock, so that concurrent Updates are not lost.
func (s *Source) Update(name string, fn func(*linkmon.State)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		if l.Name == name {
			fn(&l)
			s.set(l)
			return nil
		}
	}
	return fmt.Errorf("linkmontest: no link %q", name)
}

// SetCarrier gives the named link carrier or takes it away (the reported
// and the kernel carrier alike, with the matching operstate).
func (s *Source) SetCarrier(name string, up bool) error {
	return s.Update(name, func(st *linkmon.State) {
		st.Carrier, st.KernelCarrier = up, up
		st.Oper = linkmon.OperUp
		if !up {
			st.Oper = linkmon.OperLowerLayerDown
		}
	})
}

// SetAdmin sets the named link administratively up or down. Down takes its
// carrier too, as the kernel does.
func (s *Source) SetAdmin(name string, up bool) error {
	return s.Update(name, func(st *linkmon.State) {
		st.AdminUp = up
		if !up {
			st.Carrier, st.KernelCarrier, st.Oper = false, false, linkmon.OperDown
		}
	})
}

// Remove deletes the named link (an event with Present false).
func (s *Source) Remove(name string) error {
	return s.Update(name, func(st *linkmon.State) {
		st.Present, st.Carrier, st.KernelCarrier, st.AdminUp = false, false, false, false
		st.Oper = linkmon.OperNotPresent
	})
}

// A Step is one scripted transition for Play.
type Step struct {
	// After is how long to wait before the step.
	After time.Duration
	// Name is the link the step changes.
	Name string
	// Carrier is the carrier after the step (ignored with AdminDown or Remove).
	Carrier bool
	// AdminDown sets the link administratively down instead.
	AdminDown bool
	// Remove deletes the link instead.
	Remove bool
}

// Play applies the steps in order, each after its delay. It returns early
// with ctx's error, or with the error of a step naming an unknown link.
func (s *Source) Play(ctx context.Context, steps ...Step) error {
	for _, st := range steps {
		if st.After > 0 {
			t := time.NewTimer(st.After)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		var err error
		switch {
		case st.Remove:
			err = s.Remove(st.Name)
		case st.AdminDown:
			err = s.SetAdmin(st.Name, false)
		default:
			err = s.Update(st.Name, func(l *linkmon.State) {
				l.AdminUp = true
				l.Carrier, l.KernelCarrier = st.Carrier, st.Carrier
				l.Oper = linkmon.OperUp
				if !st.Carrier {
					l.Oper = linkmon.OperLowerLayerDown
				}
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes every subscription and waits for the Source's goroutines. It
// is idempotent and returns nil.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.hub.Close()
	return nil
}
