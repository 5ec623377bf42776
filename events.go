package netpulse

import "time"

// An Event is what a Subscribe method of a netpulse package delivers: one of
// that package's event types (each documents which), a *ConditionEvent or a
// *DropEvent. Every event carries the time it describes. Events are values:
// never modified after they are sent.
type Event interface {
	// EventTime is when the event happened (with a monotonic reading).
	EventTime() time.Time
}

// A ConditionEvent reports a change of a component's own condition (its
// kernel sockets or notifications failed, or work again). A new
// subscription of a component that is not OK starts with one.
type ConditionEvent struct {
	// Time is when the condition changed.
	Time time.Time
	// Condition is the new condition, Previous the one before.
	Condition, Previous Condition
	// Reason is ReasonFailing or ReasonWorking.
	Reason Reason
}

// EventTime returns e.Time.
func (e *ConditionEvent) EventTime() time.Time { return e.Time }

// A DropEvent tells a subscriber that it fell so far behind that its queue
// reached its cap: Count events meant for it were dropped since the
// previous event it received. It comes just before the next event that did
// fit. Streams of full states (links, targets, interface health) never lose
// the latest state of anything: they drop intermediate states first, and a
// subscriber that is merely slow sees intermediate states folded into later
// ones without a DropEvent (the later event's Previous is then the state
// the subscriber last saw; each package documents how it folds).
type DropEvent struct {
	// Time is when the first of the dropped events was dropped.
	Time time.Time
	// Count is how many events were dropped.
	Count uint64
}

// EventTime returns e.Time.
func (e *DropEvent) EventTime() time.Time { return e.Time }
