// Package healthfeed turns linkmon link events and ipmon verdict events into
// the health a route.Steerer steers by: the wiring every program that
// steers routes from link and IP evidence needs (examples/routeguard,
// examples/lab).
package healthfeed

import (
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// LinkState is the link-level health of a link: up with carrier and admin
// up, down without either, unknown once the link is gone.
func LinkState(s linkmon.State) route.State {
	switch {
	case !s.Present:
		return route.StateUnknown
	case s.Carrier && s.AdminUp:
		return route.StateUp
	}
	return route.StateDown
}

// EventIPState is the IP-level health of an ipmon VerdictChanged event, with
// the one meaning of dead failover uses (failover.IPEvidenceFrom): a dead
// verdict is StateDown only when at least one of the interface's targets is
// down (it answered, then stopped). A dead verdict over targets that never
// answered (unverified) is StateUnknown: a target that never answered is no
// evidence that the path is dead, so it is reported, not acted on (#11.5).
// ok is false for events that are no verdict.
func EventIPState(ev ipmon.Event) (st route.State, ok bool) {
	ip, ok := failover.IPEvidenceFrom(ev)
	if !ok {
		return route.StateUnknown, false
	}
	switch ip.Verdict {
	case netpulse.VerdictAlive:
		return route.StateUp, true
	case netpulse.VerdictDead:
		return route.StateDown, true
	}
	return route.StateUnknown, true
}

// Setter is what a Feed drives: *route.Steerer, or a fake.
type Setter interface {
	SetLinkState(index int, st route.State)
	SetIPState(index int, st route.State)
}

// A Feed applies link and IP events to a Setter. OnLink and OnIP, if set,
// see every event after it was applied (e.g. to print it). A linkmon health
// event (the watcher's sockets failed or were reopened) carries no link: it
// is applied to nothing and goes to OnLinkHealth, if set, not to OnLink.
type Feed struct {
	Setter       Setter
	OnLink       func(linkmon.Event)
	OnIP         func(ipmon.Event)
	OnLinkHealth func(linkmon.Event)
}

// Run applies events until both channels are closed (a nil channel counts as
// closed). ipmon names interfaces and the Steerer wants indexes: the index
// comes from the link events. The last verdict about each name is kept and
// applied again whenever that name appears with a new index (a link
// created, re-created or renamed), because ipmon sends no new event when
// its verdict does not change; a verdict about an interface not seen yet is
// applied as soon as its link is. A verdict becomes an IP state through
// EventIPState: a dead verdict over unverified targets only steers nothing.
func (f Feed) Run(links <-chan linkmon.Event, ips <-chan ipmon.Event) {
	index := map[string]int{}           // present links by name
	verdict := map[string]route.State{} // last IP state by name (zero: StateUnknown)
	for links != nil || ips != nil {
		select {
		case ev, ok := <-links:
			if !ok {
				links = nil
				continue
			}
			if ev.IsHealth() {
				if f.OnLinkHealth != nil {
					f.OnLinkHealth(ev)
				}
				continue
			}
			s, p := ev.State, ev.Previous
			if p.Present && p.Name != s.Name && index[p.Name] == p.Index {
				delete(index, p.Name) // renamed away
			}
			f.Setter.SetLinkState(s.Index, LinkState(s))
			if s.Present {
				if index[s.Name] != s.Index {
					// New under this name: the name's verdict, or none
					// (a renamed link leaves its old name's behind).
					index[s.Name] = s.Index
					f.Setter.SetIPState(s.Index, verdict[s.Name])
				}
			} else if index[s.Name] == s.Index {
				delete(index, s.Name)
			}
			if f.OnLink != nil {
				f.OnLink(ev)
			}
		case ev, ok := <-ips:
			if !ok {
				ips = nil
				continue
			}
			if st, ok := EventIPState(ev); ok {
				verdict[ev.Interface] = st
				if i, ok := index[ev.Interface]; ok {
					f.Setter.SetIPState(i, st)
				}
			}
			if f.OnIP != nil {
				f.OnIP(ev)
			}
		}
	}
}
