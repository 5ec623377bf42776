// Package healthfeed turns linkmon link events and ipmon verdict events into
// the health a route.Steerer steers by: the wiring every program that
// steers routes from link and IP evidence needs (examples/routeguard,
// examples/lab).
package healthfeed

import (
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
)

// LinkState is the link-level health of a link: up with carrier and admin
// up, down without either, unknown once the link is gone.
func LinkState(s linkmon.State) netpulse.State {
	switch {
	case !s.Present:
		return netpulse.StateUnknown
	case s.Carrier && s.AdminUp:
		return netpulse.StateUp
	}
	return netpulse.StateDown
}

// EventIPState is the IP-level health of an ipmon verdict event, with the
// one meaning of dead ipmon applies: a dead verdict is StateDown (at least
// one of the interface's targets answered, then stopped). An unverified
// verdict (targets that never answered) is StateUnknown: a target that
// never answered is no evidence that the path is dead, so it is reported,
// not acted on (#11.5). ok is false for events that are no verdict.
func EventIPState(ev netpulse.Event) (st netpulse.State, ok bool) {
	ip, ok := failover.IPEvidenceFrom(ev)
	if !ok {
		return netpulse.StateUnknown, false
	}
	switch ip.Verdict {
	case netpulse.VerdictAlive:
		return netpulse.StateUp, true
	case netpulse.VerdictDead:
		return netpulse.StateDown, true
	}
	return netpulse.StateUnknown, true
}

// verdict is the IP verdict an IP state stands for.
func verdict(st netpulse.State) netpulse.Verdict {
	switch st {
	case netpulse.StateUp:
		return netpulse.VerdictAlive
	case netpulse.StateDown:
		return netpulse.VerdictDead
	}
	return netpulse.VerdictUnknown
}

// A Feed applies link and IP events to an Observer (*route.Steerer, or a
// fake) as the full evidence of the interface concerned. OnLink and OnIP,
// if set, see every event after it was applied (e.g. to print it). A
// linkmon condition event (the watcher's sockets failed or were reopened)
// carries no link: it is applied to nothing and goes to OnLinkHealth, if
// set, not to OnLink. A linkmon drop event is applied to nothing either
// (the link events that follow carry the full states).
type Feed struct {
	Setter       netpulse.Observer
	OnLink       func(*linkmon.LinkEvent)
	OnIP         func(netpulse.Event)
	OnLinkHealth func(*netpulse.ConditionEvent)
}

// Run applies events until both channels are closed (a nil channel counts as
// closed). ipmon names interfaces and the Steerer wants indexes: the index
// comes from the link events. The last verdict about each name is kept and
// applied again whenever that name appears with a new index (a link
// created, re-created or renamed), because ipmon sends no new event when
// its verdict does not change; a verdict about an interface not seen yet is
// applied as soon as its link is. A verdict becomes an IP state through
// EventIPState: a dead verdict over unverified targets only steers nothing.
func (f Feed) Run(links <-chan netpulse.Event, ips <-chan netpulse.Event) {
	index := map[string]int{}               // present links by name
	verdicts := map[string]netpulse.State{} // last IP state by name (zero: StateUnknown)
	last := map[int]netpulse.Evidence{}     // last evidence observed, by present link
	for links != nil || ips != nil {
		select {
		case x, ok := <-links:
			if !ok {
				links = nil
				continue
			}
			if c, ok := x.(*netpulse.ConditionEvent); ok {
				if f.OnLinkHealth != nil {
					f.OnLinkHealth(c)
				}
				continue
			}
			ev, ok := x.(*linkmon.LinkEvent)
			if !ok {
				continue
			}
			s, p := ev.State, ev.Previous
			if p.Present && p.Name != s.Name && index[p.Name] == p.Index {
				delete(index, p.Name) // renamed away
			}
			e := last[s.Index]
			e.Time, e.Interface, e.Link = time.Now(), netpulse.Interface{Index: s.Index, Name: s.Name}, LinkState(s)
			if s.Present {
				if index[s.Name] != s.Index {
					// New under this name: the name's verdict, or none
					// (a renamed link leaves its old name's behind).
					index[s.Name] = s.Index
					e.IP = verdict(verdicts[s.Name])
				}
				last[s.Index] = e
			} else {
				if index[s.Name] == s.Index {
					delete(index, s.Name)
				}
				delete(last, s.Index)
			}
			f.Setter.Observe(e)
			if f.OnLink != nil {
				f.OnLink(ev)
			}
		case ev, ok := <-ips:
			if !ok {
				ips = nil
				continue
			}
			if st, ok := EventIPState(ev); ok {
				name := ev.(*ipmon.VerdictEvent).Interface.Name
				verdicts[name] = st
				if i, ok := index[name]; ok {
					e := last[i]
					e.Time, e.IP = time.Now(), verdict(st)
					last[i] = e
					f.Setter.Observe(e)
				}
			}
			if f.OnIP != nil {
				f.OnIP(ev)
			}
		}
	}
}
