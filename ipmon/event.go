package ipmon

import (
	"fmt"
	"net/netip"
	"time"
)

// EventKind tells what an Event reports.
type EventKind int

const (
	// TargetChanged: a target's state changed (or the target was added to
	// a subscription's initial state, or removed).
	TargetChanged EventKind = iota
	// VerdictChanged: an interface's verdict changed.
	VerdictChanged
	// HealthChanged: the Poller's own health changed (Health): it could
	// not follow link and address notifications, or it can again. A
	// subscription starts with one only when the Poller is not healthy.
	HealthChanged
)

// String returns "target", "verdict" or "health".
func (k EventKind) String() string {
	switch k {
	case TargetChanged:
		return "target"
	case VerdictChanged:
		return "verdict"
	case HealthChanged:
		return "health"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change, carrying the full new state. Kind says which fields
// are set: Target, State, Previous, RTT, Misses, Replies and Removed for
// TargetChanged; Verdict, PreviousVerdict, Rule and Evidence for
// VerdictChanged. Interface and At are always set.
type Event struct {
	Kind EventKind
	// At is when the change was decided (monotonic reading included).
	At time.Time
	// Interface is the interface whose path the event concerns.
	Interface string
	// Initial marks the events a subscription starts with: the state at
	// the time of Subscribe (Previous equals State).
	Initial bool
	// Coalesced counts the changes of the same target (or interface)
	// folded into this event because the subscriber was behind; Previous
	// is then the state before the first of them.
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
	// Removed is set when the target was removed (State is then Unknown).
	Removed bool
	// Hold says why the target is not probed for now (HoldNone: it is).
	Hold Hold
	// BFD is the session's state, diagnostic and negotiated timers, for a
	// target of Kind BFD (zero otherwise). A BFD target has an event for
	// every change of its session state, also one that leaves State as it
	// is (Down to Init).
	BFD BFDStatus

	// Verdict is the interface's new verdict, PreviousVerdict the one
	// before, Rule the rule that decided it.
	Verdict, PreviousVerdict Verdict
	Rule                     VerdictRule
	// Evidence lists the interface's targets and their states when the
	// verdict was decided.
	Evidence []Evidence

	// Health is the Poller's new health, PreviousHealth the one before
	// (HealthChanged).
	Health, PreviousHealth Health
}

// Evidence is one target's part in an interface verdict.
type Evidence struct {
	Addr  netip.Addr
	Kind  ProbeKind
	State TargetState
}

// Coalesce returns the one event a subscriber that fell behind receives in
// place of e followed by newer, an event of the same target (or, for
// VerdictChanged, the same interface): newer's state with e's previous
// state, Coalesced counting the events folded in. ok is false when both
// must be delivered: a removal is never coalesced away, so a subscriber
// still sees it when the target is added again. Poller and the ipmontest
// fake coalesce by this rule.
func (e Event) Coalesce(newer Event) (merged Event, ok bool) {
	if e.Removed {
		return e, false
	}
	newer.Coalesced = e.Coalesced + 1
	newer.Previous, newer.PreviousVerdict = e.Previous, e.PreviousVerdict
	newer.Initial = e.Initial && newer.Initial
	return newer, true
}

// Snapshot is the Poller's state at one moment.
type Snapshot struct {
	// At is when the snapshot was taken.
	At time.Time
	// Mode is the socket mode in use (Raw or Unprivileged).
	Mode Mode
	// StrictIngress echoes the configuration.
	StrictIngress bool
	// Targets lists every target, sorted by interface, then address.
	Targets []TargetStats
	// Interfaces lists every interface with at least one target, sorted by
	// name.
	Interfaces []InterfaceStatus
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
	// Health is the Poller's own health; HealthFaults counts the times it
	// became unhealthy.
	Health       Health
	HealthFaults uint64
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
	// BFD is the session of a target of Kind BFD (zero otherwise); Sent
	// and Received then count control packets.
	BFD BFDStatus
}

// InterfaceStatus is one interface's IP verdict and the counts behind it.
type InterfaceStatus struct {
	Name    string
	Verdict Verdict
	Rule    VerdictRule
	// LastChange is when Verdict last changed.
	LastChange time.Time
	// Targets counts the interface's targets, and the others count them
	// by state.
	Targets, Up, Down, Unverified, Unknown int
}
