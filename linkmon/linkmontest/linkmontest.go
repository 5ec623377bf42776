// Package linkmontest provides a fake link source for the unit tests of
// packages that consume linkmon: scripted carrier, admin and presence
// transitions, delivered exactly like a linkmon.Watcher delivers them: the
// same event stream (the current state of every link first, then
// *linkmon.LinkEvent values carrying the full new and previous state,
// *netpulse.ConditionEvent for the fake watcher's condition, a slow
// subscriber's intermediate states coalesced by linkmon's rule, never the
// latest lost, and drops past its queue's cap told by a
// *netpulse.DropEvent). It needs no kernel and works inside testing/synctest
// bubbles.
package linkmontest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/internal/stream"
)

// Link returns the state of a present, administratively up link, with or
// without carrier: a convenient start for New and Set.
func Link(index int, name string, carrier bool) linkmon.State {
	oper := linkmon.OperStateUp
	if !carrier {
		oper = linkmon.OperStateLowerLayerDown
	}
	return linkmon.State{Index: index, Name: name, Present: true, Carrier: carrier, KernelCarrier: carrier,
		AdminUp: true, Oper: oper, MTU: 1500}
}

// A Source is a fake linkmon.Watcher. Its methods are safe for concurrent
// use. Create it with New and Close it.
type Source struct {
	mu     sync.Mutex
	links  map[int]linkmon.State
	st     *stream.Stream[*linkmon.LinkEvent] // the watcher's own stream
	closed bool
}

// New returns a Source holding the given links (each must have a distinct
// Index). Subscriptions have a channel buffer of 64, like the watcher's
// default.
func New(links ...linkmon.State) *Source {
	s := &Source{links: make(map[int]linkmon.State),
		st: stream.New(64, eventLink, (*linkmon.LinkEvent).Coalesce)}
	now := time.Now()
	for _, l := range links {
		l.Present = true
		l.Changed = now
		s.links[l.Index] = l
	}
	return s
}

func eventLink(e *linkmon.LinkEvent) int { return e.State.Index }

// Subscribe behaves like linkmon.Watcher.Subscribe: it sends
// *linkmon.LinkEvent, *netpulse.ConditionEvent and *netpulse.DropEvent.
func (s *Source) Subscribe(ctx context.Context) <-chan netpulse.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.links))
	initial := make([]*linkmon.LinkEvent, len(keys))
	for n, i := range keys {
		initial[n] = &linkmon.LinkEvent{State: s.links[i], Initial: true, Seq: s.st.Seq(), Time: s.links[i].Changed}
	}
	return s.st.Subscribe(ctx, initial)
}

// Snapshot behaves like linkmon.Watcher.Snapshot.
func (s *Source) Snapshot() linkmon.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := linkmon.Snapshot{Time: time.Now(), Condition: s.st.Condition()}
	for _, l := range s.links {
		snap.Links = append(snap.Links, l)
	}
	slices.SortFunc(snap.Links, func(a, b linkmon.State) int { return a.Index - b.Index })
	snap.Counters.Events = s.st.Events()
	snap.Counters.Coalesced = s.st.Coalesced()
	snap.Counters.EventsDropped = s.st.Dropped()
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
	s.st.Publish(&linkmon.LinkEvent{State: st, Previous: prev, Seq: s.st.Next(), Time: st.Changed})
}

// Fail makes the fake watcher's sockets fail with err (a non-nil error, as
// the watcher's *linkmon.Error), or recover when err is nil, and emits the
// change as a *netpulse.ConditionEvent, by the watcher's own rules: every
// failure is an event (a failed reopen too), a recovery only after a
// failure.
func (s *Source) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.st.SetCondition(err, time.Now())
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
		st.Oper = linkmon.OperStateUp
		if !up {
			st.Oper = linkmon.OperStateLowerLayerDown
		}
	})
}

// SetAdmin sets the named link administratively up or down. Down takes its
// carrier too, as the kernel does.
func (s *Source) SetAdmin(name string, up bool) error {
	return s.Update(name, func(st *linkmon.State) {
		st.AdminUp = up
		if !up {
			st.Carrier, st.KernelCarrier, st.Oper = false, false, linkmon.OperStateDown
		}
	})
}

// Remove deletes the named link (an event with Present false).
func (s *Source) Remove(name string) error {
	return s.Update(name, func(st *linkmon.State) {
		st.Present, st.Carrier, st.KernelCarrier, st.AdminUp = false, false, false, false
		st.Oper = linkmon.OperStateNotPresent
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
				l.Oper = linkmon.OperStateUp
				if !st.Carrier {
					l.Oper = linkmon.OperStateLowerLayerDown
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
	s.st.Close()
	return nil
}
