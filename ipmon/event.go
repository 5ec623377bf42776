package ipmon

import (
	"net/netip"
	"time"

	"github.com/netpulse/netpulse"
)

// A TargetEvent reports a target's new state (or a target added to a
// subscription's initial state, or removed). It carries the full new
// state, not a change.
type TargetEvent struct {
	// Time is when the change was decided (monotonic reading included).
	Time time.Time
	// Interface is the target's interface: its name, and its index in the
	// Poller's namespace when the event was made (0 when no interface of
	// that name exists there).
	Interface netpulse.Interface
	// Initial marks the events a subscription starts with: the state at
	// the time of Subscribe (Previous equals State).
	Initial bool
	// Coalesced counts the changes of this target folded into this event
	// because the subscriber was behind; Previous is then the state before
	// the first of them.
	Coalesced int

	// Target is the target, with defaults filled in.
	Target Target
	// State is the new state, Previous the one before.
	State, Previous TargetState
	// RTT is the last measured round-trip time (0 if none yet).
	RTT time.Duration
	// Misses and Replies are the consecutive misses and replies that led to
	// the change.
	Misses, Replies int
	// Removed is set when the target was removed (State is then
	// TargetUnknown).
	Removed bool
	// Hold says why the target is not probed for now (HoldNone: it is).
	Hold Hold
	// BFD is the session's state, diagnostic and negotiated timers, for a
	// target of Kind ProbeBFD (zero otherwise). A BFD target has an event
	// for every change of its session state, also one that leaves State as
	// it is (Down to Init).
	BFD BFDStatus
}

// EventTime returns e.Time.
func (e *TargetEvent) EventTime() time.Time { return e.Time }

// A VerdictEvent reports an interface's new IP-level verdict over its
// targets (or its verdict in a subscription's initial state).
//
// Verdict has netpulse's one meaning of dead: VerdictDead only when the
// rule fails and at least one of the interface's targets is TargetDown
// (it answered, then stopped); a rule that fails only on targets that
// never answered (TargetUnverified) gives VerdictUnverified, which is no
// evidence against the path.
type VerdictEvent struct {
	// Time is when the verdict was decided (monotonic reading included).
	Time time.Time
	// Interface is the interface: its name, and its index in the Poller's
	// namespace (0 when no interface of that name exists there).
	Interface netpulse.Interface
	// Initial marks the events a subscription starts with (Previous
	// equals Verdict).
	Initial bool
	// Coalesced counts the verdicts of this interface folded into this
	// event because the subscriber was behind; Previous is then the
	// verdict before the first of them.
	Coalesced int
	// Verdict is the interface's new verdict, Previous the one before.
	Verdict, Previous netpulse.Verdict
	// Rule is the rule that decided it.
	Rule VerdictRule
	// Evidence lists the interface's targets and their states when the
	// verdict was decided, sorted by address, then kind.
	Evidence []TargetEvidence
}

// EventTime returns e.Time.
func (e *VerdictEvent) EventTime() time.Time { return e.Time }

// TargetEvidence is one target's part in an interface verdict (the
// interface's evidence as a whole is a netpulse.Evidence).
type TargetEvidence struct {
	// Addr, Kind and State are the target's address, probe kind and state
	// when the verdict was decided.
	Addr  netip.Addr
	Kind  ProbeKind
	State TargetState
}

// Snapshot is the Poller's state at one moment.
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time
	// Mode is the socket mode in use (ModeRaw or ModeUnprivileged).
	Mode Mode
	// StrictIngress echoes the configuration.
	StrictIngress bool
	// Targets lists every target, sorted by interface, then address.
	Targets []TargetStats
	// Interfaces lists every interface with at least one target, sorted by
	// name.
	Interfaces []VerdictStatus
	// Sent counts probes sent; SendErrors the sends the kernel refused;
	// Received the replies accepted.
	Sent, SendErrors, Received uint64
	// LocalSendErrors counts the SendErrors that only meant local buffer
	// space was short (EAGAIN, ENOBUFS, ENOMEM): those probes are not
	// misses. Every other refusal (no route, network down or unreachable)
	// counts as a miss when its timeout expires.
	LocalSendErrors uint64
	// Overruns counts probes sent more than one interval late because the
	// poller fell behind.
	Overruns uint64
	// Rebinds counts targets moved to a new interface index because their
	// interface was deleted and created again under the same name.
	Rebinds uint64
	// Drops counts received packets that were not accepted, by reason.
	Drops Drops
	// BFD counts the BFD control packets of every session.
	BFD BFDCounters
	// Diagnostics lists configuration problems found (for example strict
	// ingress on an interface whose ARP settings make it unreliable, with
	// the sysctls to set).
	Diagnostics []string
	// Condition is the Poller's own condition: whether it still follows
	// the namespace's links and addresses. ConditionFaults counts the times
	// it stopped being OK.
	Condition       netpulse.Condition
	ConditionFaults uint64
	// EventsDropped counts events dropped for subscribers that fell behind
	// by more than their queue's cap (a *netpulse.DropEvent told each
	// subscriber); folded events are not counted.
	EventsDropped uint64
}

// Drops counts packets that did not count as replies, by reason.
type Drops struct {
	// Foreign: an echo reply with another ID (another process's pinger)
	// that got past the kernel's filter (which drops them on raw sockets
	// before they are counted).
	Foreign uint64
	// Spoofed: our ID but a wrong authenticator, an unknown target, a
	// source that is not the target, or a sequence never sent.
	Spoofed uint64
	// Late: a reply to a probe whose timeout had expired (or of a removed
	// or re-tuned target).
	Late uint64
	// Duplicate: a second reply to one probe.
	Duplicate uint64
	// Malformed: too short, wrong type or code, bad checksum or header.
	Malformed uint64
	// WrongInterface: with StrictIngress, a reply that arrived on another
	// interface than its probe left from.
	WrongInterface uint64
	// Overflow: packets the kernel dropped because a receive socket's
	// buffer was full (a flood that got past the filter, or a Poller
	// starved of CPU); genuine replies may be among them. As the kernel
	// reports it (SO_RXQ_OVFL), with the next packet received.
	Overflow uint64
}

// Total returns the sum of all drop counters.
func (d Drops) Total() uint64 {
	return d.Foreign + d.Spoofed + d.Late + d.Duplicate + d.Malformed + d.WrongInterface + d.Overflow
}

// TargetStats is one target's state and statistics.
type TargetStats struct {
	// Target is the target with defaults filled in.
	Target Target
	// State is its state, since LastChange.
	State      TargetState
	LastChange time.Time
	// LastReply is when the last accepted reply arrived (zero if never).
	LastReply time.Time
	// Sent and Received count probes sent and replies accepted since the
	// target was added.
	Sent, Received uint64
	// ConsecutiveMisses and ConsecutiveReplies are the current runs.
	ConsecutiveMisses, ConsecutiveReplies int
	// WindowProbes is how many resolved probes the loss window holds (at
	// most Config.LossWindow), WindowLost how many of them got no reply,
	// Loss their ratio (0..1).
	WindowProbes, WindowLost int
	Loss                     float64
	// RTT statistics over every accepted reply: last, minimum, average,
	// maximum and mean deviation (as ping's mdev).
	LastRTT, MinRTT, AvgRTT, MaxRTT, DevRTT time.Duration
	// OtherIngress counts accepted replies that arrived on another
	// interface than the probe's (ARP flux; only without StrictIngress).
	OtherIngress uint64
	// LocalSendErrors counts probes this host could not send for lack of
	// local buffer space (EAGAIN, ENOBUFS, ENOMEM): neither misses nor
	// replies, they do not count against the target.
	LocalSendErrors uint64
	// Hold says why the target is not probed for now (HoldNone: it is);
	// Source is the source address its probes take (invalid for ARP
	// probes and held targets).
	Hold   Hold
	Source netip.Addr
	// BFD is the session of a target of Kind ProbeBFD (zero otherwise); Sent
	// and Received then count control packets.
	BFD BFDStatus
}

// VerdictStatus is one interface's IP verdict and the counts behind it.
type VerdictStatus struct {
	// Interface is the interface: its name, and its index in the Poller's
	// namespace (0 when no interface of that name exists there), as in
	// VerdictEvent.
	Interface netpulse.Interface
	// Verdict is the interface's verdict, as in VerdictEvent; Rule the
	// rule that decided it.
	Verdict netpulse.Verdict
	Rule    VerdictRule
	// LastChange is when Verdict last changed.
	LastChange time.Time
	// Targets counts the interface's targets, and the others count them
	// by state.
	Targets, Up, Down, Unverified, Unknown int
}
