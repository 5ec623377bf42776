package health

import (
	"time"

	"github.com/netpulse/netpulse"
)

// The Monitor's core is fed inputs, not the sources' event types: decodeLink
// and decodeIP are the only places that know what a LinkSource and an
// IPSource send, so that the core's rules (one meaning of dead, interfaces
// keyed by name) do not depend on the detectors' event shapes. For now they
// decode the package's own input types only; when linkmon's and ipmon's
// events are netpulse.Events (issue 13) they gain a case each for
// *linkmon.LinkEvent and *ipmon.VerdictEvent, and nothing else changes.

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

// EventTime returns in.Time. A *linkInput is a netpulse.Event so that it
// can travel on a LinkSource's channel as it is (the package's tests send
// it).
func (in *linkInput) EventTime() time.Time { return in.Time }

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
	Verdict   netpulse.Verdict
}

// EventTime returns in.Time. A *ipInput is a netpulse.Event so that it can
// travel on an IPSource's channel as it is (the package's tests send it).
func (in *ipInput) EventTime() time.Time { return in.Time }

// decodeLink returns the link observation an event of a LinkSource carries;
// ok is false for events that carry none (a source's ConditionEvent and
// DropEvent are handled apart, by the caller).
func decodeLink(ev netpulse.Event) (in linkInput, ok bool) {
	switch ev := ev.(type) {
	case *linkInput:
		return *ev, true
	}
	return linkInput{}, false
}

// decodeIP returns the verdict an event of an IPSource carries; ok is false
// for events that carry none (target changes, and the ConditionEvent and
// DropEvent the caller handles).
func decodeIP(ev netpulse.Event) (in ipInput, ok bool) {
	switch ev := ev.(type) {
	case *ipInput:
		return *ev, true
	}
	return ipInput{}, false
}
