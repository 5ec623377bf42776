package health

import (
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// The Monitor's events go through internal/fanout hubs, so that its
// subscribers get the delivery guarantees of linkmon's, ipmon's and
// failover's: the Monitor never blocks on a subscriber, a subscriber that
// falls behind has the changes of one interface folded into one event
// (EvidenceEvent.Coalesced counts them), and one that falls behind the cap
// loses superseded events first and is told how many by a
// *netpulse.DropEvent.

// eventKey is what an event is about: the interface's name, or "" (no
// interface has that name) for the Monitor's condition.
func eventKey(ev netpulse.Event) string {
	if e, ok := ev.(*EvidenceEvent); ok {
		return e.Evidence.Interface.Name
	}
	return ""
}

// foldEvents merges a waiting event with a newer one about the same
// interface (or the condition): the subscriber gets the newer state with
// the Previous it saw last, Coalesced counting the events folded in. An
// initial event stays as it is (a change after it is one of its own), so
// that a subscription starts with the evidence at the time of Subscribe.
// Events are never modified once published: the result is a copy.
func foldEvents(old, newer netpulse.Event) (netpulse.Event, bool) {
	switch o := old.(type) {
	case *EvidenceEvent:
		if o.Initial {
			return old, false
		}
		n := *newer.(*EvidenceEvent)
		n.Previous, n.Coalesced = o.Previous, o.Coalesced+n.Coalesced+1
		return &n, true
	case *netpulse.ConditionEvent:
		n := *newer.(*netpulse.ConditionEvent)
		n.Previous = o.Previous
		return &n, true
	}
	return old, false
}

// newHub returns a hub whose subscriptions have channels of capacity
// buffer and queues capped at limit (fanout.DefaultLimit for the
// Monitor's).
func newHub(buffer, limit int) *fanout.Hub[string, netpulse.Event] {
	return fanout.New(buffer, eventKey, foldEvents, fanout.WithLimit[netpulse.Event](limit), fanout.DropEvents())
}
