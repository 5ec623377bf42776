package health

import (
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
)

// The Monitor's core is fed inputs, not the sources' event types: decodeLink
// and decodeIP are the only places that know what a LinkSource and an
// IPSource send (*linkmon.LinkEvent, *ipmon.VerdictEvent), so that the
// core's rules (one meaning of dead, interfaces keyed by name) do not depend
// on the detectors' event shapes.

// linkInput is one observation of a link, as linkmon reports it: its full
// new state and, for a rename, the identity it had before.
type linkInput struct {
	Time time.Time
	// Interface is the link's identity now; Previous the one before this
	// change (zero when unknown). A Previous.Name other than Interface.Name
	// is a rename.
	Interface, Previous netpulse.Interface
	// Present is false when the link was deleted.
	Present bool
	// AdminUp, Carrier and Damped are linkmon's reported states (after its
	// delays); a damped link counts as down.
	AdminUp, Carrier, Damped bool
}

// state is the link-level state of the observation: up with carrier (not
// damped) and admin up, down otherwise, and down when the link is gone.
func (in *linkInput) state() netpulse.State {
	if in.Present && in.AdminUp && in.Carrier && !in.Damped {
		return netpulse.StateUp
	}
	return netpulse.StateDown
}

// ipInput is one verdict over the targets probed through a named
// interface. The verdict carries the one meaning of dead: the source
// reports targets that never answered as VerdictUnverified.
type ipInput struct {
	Time      time.Time
	Interface string
	// Index is the interface's index as the IP source resolved it (0:
	// none); the Monitor takes it only when it has no link source.
	Index   int
	Verdict netpulse.Verdict
}

// decodeLink returns the link observation an event of a LinkSource carries;
// ok is false for events that carry none (a source's ConditionEvent and
// DropEvent are handled apart, by the caller).
func decodeLink(ev netpulse.Event) (in linkInput, ok bool) {
	switch ev := ev.(type) {
	case *linkmon.LinkEvent:
		s := ev.State
		in := linkInput{
			Time: s.Changed,
			// The index even when the link is gone: the core tells a
			// deleted link that still held the name from one that no
			// longer did.
			Interface: netpulse.Interface{Index: s.Index, Name: s.Name},
			Previous:  ev.Previous.Interface(),
			Present:   s.Present,
			AdminUp:   s.AdminUp,
			Carrier:   s.Carrier,
			Damped:    s.Damped,
		}
		if in.Time.IsZero() {
			in.Time = ev.Time
		}
		return in, true
	}
	return linkInput{}, false
}

// decodeIP returns the verdict an event of an IPSource carries; ok is false
// for events that carry none (an *ipmon.TargetEvent, and the ConditionEvent
// and DropEvent the caller handles).
func decodeIP(ev netpulse.Event) (in ipInput, ok bool) {
	switch ev := ev.(type) {
	case *ipmon.VerdictEvent:
		// ipmon applies the one meaning of dead itself: a dead verdict
		// over targets that never answered is VerdictUnverified.
		return ipInput{Time: ev.Time, Interface: ev.Interface.Name, Index: ev.Interface.Index, Verdict: ev.Verdict}, true
	}
	return ipInput{}, false
}
