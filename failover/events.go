package failover

import (
	"net/netip"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// Operations, as ActionErrorEvent.Op names them; failovertest.Recorder
// records its calls with the same words.
const (
	// OpConflict: the conflict check before a move ("conflict").
	OpConflict = "conflict"
	// OpAdd: Actuator.AddAddress ("add").
	OpAdd = "add"
	// OpRemove: Actuator.RemoveAddress ("remove").
	OpRemove = "remove"
	// OpSteer: Actuator.SteerReturn ("steer").
	OpSteer = "steer"
	// OpAnnounce: Actuator.Announce ("announce").
	OpAnnounce = "announce"
	// OpAnnounceOwn: SelfAnnouncer.AnnounceOwn ("announce-own").
	OpAnnounceOwn = "announce-own"
	// OpRepair: putting back what verification found missing ("repair").
	OpRepair = "repair"
)

// HealthEvent reports a health transition of one interface, or its health
// in a subscription's initial state (Initial).
type HealthEvent struct {
	// Time is when the engine saw the transition; for an initial event,
	// when the interface entered its health.
	Time time.Time
	// Initial marks the events a subscription starts with: the health of
	// every member at the time of Subscribe (From equals To).
	Initial bool
	// Coalesced counts the transitions of this interface folded into this
	// event because the subscriber was behind; From is then the health
	// before the first of them.
	Coalesced int
	// Interface is the interface, Group its group.
	Interface netpulse.Interface
	Group     string
	// From and To are the health before and after.
	From, To netpulse.Health
	// Failure classifies the failure (FailureNone when not failed).
	Failure netpulse.Failure
	// Reason says why, e.g. ReasonLinkDown, ReasonIPUp, ReasonDisabled.
	Reason netpulse.Reason
	// EvidenceTime is the time of the evidence that caused it (zero for an
	// operator's action).
	EvidenceTime time.Time
}

// SwitchEvent reports a completed move of a group's addresses.
type SwitchEvent struct {
	// Time is when the move completed (addresses added, removed from the
	// other members, return path steered, first announcement sent).
	Time time.Time
	// Group is the group whose addresses moved.
	Group string
	// Addresses are the addresses moved.
	Addresses []netip.Prefix
	// From is the member the addresses were on (zero Interface for the
	// initial placement); To where they are now.
	From, To netpulse.Interface
	// Reason is ReasonLinkDown, ReasonIPDown, ReasonFailback,
	// ReasonManual or ReasonInitial.
	Reason netpulse.Reason
	// EvidenceTime is the time of the evidence that triggered the move
	// (zero when none did, e.g. a manual move).
	EvidenceTime time.Time
	// Latency is Time minus EvidenceTime (0 without evidence time).
	Latency time.Duration
	// Attempts is how many attempts the move took (1 without retry).
	Attempts int
}

// GroupEvent reports that a group became subnet-down (no member up, or an
// IP failure under SubnetDownOnIPFailure) or recovered from it, or whether
// it is subnet-down in a subscription's initial state (Initial).
type GroupEvent struct {
	// Time is when the engine saw the change; Group is the group's name.
	Time  time.Time
	Group string
	// Initial marks the events a subscription starts with: the state of
	// every group at the time of Subscribe.
	Initial bool
	// Coalesced counts the changes of this group folded into this event
	// because the subscriber was behind.
	Coalesced int
	// SubnetDown is the new state; the addresses stay where they are while
	// it is true.
	SubnetDown bool
}

// ActionErrorEvent reports a failed actuator call. The engine retries the
// move after RetryIn, unless the error is permanent.
type ActionErrorEvent struct {
	// Time is when the call failed; Group is the group being moved.
	Time  time.Time
	Group string
	// Op is the operation that failed: OpConflict (the address is held
	// elsewhere), OpAdd, OpRemove, OpSteer, OpAnnounce, OpAnnounceOwn or
	// OpRepair.
	Op        string
	Interface netpulse.Interface
	// Address is the address concerned (zero for steer and announce).
	Address netip.Prefix
	// Err is the actuator's error.
	Err error
	// Attempt is the number of the failed attempt, from 1.
	Attempt int
	// RetryIn is the backoff before the next attempt (0 for announce,
	// which is not retried beyond its schedule, and for a permanent
	// error).
	RetryIn time.Duration
	// Permanent: the error is permanent (IsPermanent: a missing
	// privilege or member, an address conflict). The move is not retried
	// on a timer; the engine tries again when a member's health changes or
	// the application asks for a move. A program that cannot fix the
	// cause should stop.
	Permanent bool
}

// EventTime returns e.Time (netpulse.Event).
func (e *HealthEvent) EventTime() time.Time { return e.Time }

// EventTime returns e.Time (netpulse.Event).
func (e *SwitchEvent) EventTime() time.Time { return e.Time }

// EventTime returns e.Time (netpulse.Event).
func (e *GroupEvent) EventTime() time.Time { return e.Time }

// EventTime returns e.Time (netpulse.Event).
func (e *ActionErrorEvent) EventTime() time.Time { return e.Time }

// The engine's events go through an internal/fanout hub, so that every
// subscriber gets the delivery guarantees of linkmon's and ipmon's: the
// engine never blocks on a subscriber, a subscriber that falls behind has
// the health transitions of one interface (and the changes of one group)
// folded into one event, and one that falls behind the cap loses
// superseded events first and is told how many by a *netpulse.DropEvent.

// evKey says what an event is about: the events of one key fold or drop
// in favour of the latest one.
type evKey struct {
	kind uint8
	name string
}

func keyOf(ev netpulse.Event) evKey {
	switch ev := ev.(type) {
	case *HealthEvent:
		return evKey{1, ev.Interface.Name}
	case *GroupEvent:
		return evKey{2, ev.Group}
	case *SwitchEvent:
		return evKey{3, ev.Group}
	case *ActionErrorEvent:
		return evKey{4, ev.Group + "\x00" + ev.Op}
	case *RepairEvent:
		return evKey{5, ev.Group}
	}
	return evKey{}
}

// fold merges a waiting health or group event with a newer one of the same
// interface or group: the subscriber sees the transition from the older
// event's From to the newer one's state, its Coalesced counting the
// transitions folded. An initial event stays as it is (a transition after
// it is one of its own), and moves, errors and repairs are never folded:
// each is a fact of its own.
func fold(old, new netpulse.Event) (netpulse.Event, bool) {
	switch n := new.(type) {
	case *HealthEvent:
		o, ok := old.(*HealthEvent)
		if !ok || o.Initial {
			return old, false
		}
		m := *n
		m.From, m.Coalesced = o.From, o.Coalesced+n.Coalesced+1
		return &m, true
	case *GroupEvent:
		o, ok := old.(*GroupEvent)
		if !ok || o.Initial {
			return old, false
		}
		m := *n
		m.Coalesced = o.Coalesced + n.Coalesced + 1
		return &m, true
	}
	return old, false
}

func newHub(limit int) *fanout.Hub[evKey, netpulse.Event] {
	return fanout.New(0, keyOf, fold, fanout.WithLimit[netpulse.Event](limit), fanout.DropEvents())
}
