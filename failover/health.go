package failover

import (
	"fmt"
	"time"
)

// Health is the health of one interface, derived from its link and IP
// evidence and the operator's disable flag.
type Health uint8

// Health values. Their String forms are the words of the status report and
// of the JSON lines of examples/failoverd.
const (
	// HealthUnknown: no evidence yet ("unknown").
	HealthUnknown Health = iota
	// HealthUp: carrier present and the IP path not known dead ("up").
	HealthUp
	// HealthLinkDown: carrier lost, admin down or the interface is gone: a
	// link-level failure, which is also an IP-level one ("link-down").
	HealthLinkDown
	// HealthIPDown: carrier present but the IP verdict is dead: an IP-only
	// failure ("ip-down").
	HealthIPDown
	// HealthDisabled: taken out of service by the operator, or by policy
	// after an IP-level failure, until re-enabled ("disabled").
	HealthDisabled
)

var healthNames = [...]string{"unknown", "up", "link-down", "ip-down", "disabled"}

// String returns "unknown", "up", "link-down", "ip-down" or "disabled".
func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("Health(%d)", uint8(h))
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// Failure classifies what failed on an interface.
type Failure uint8

// Failure values.
const (
	// FailureNone: nothing failed ("none").
	FailureNone Failure = iota
	// FailureLinkIP: carrier lost, so the IP path is lost too ("link+ip").
	FailureLinkIP
	// FailureIPOnly: carrier present, IP path dead ("ip_only").
	FailureIPOnly
)

var failureNames = [...]string{"none", "link+ip", "ip_only"}

// String returns "none", "link+ip" or "ip_only".
func (f Failure) String() string {
	if int(f) < len(failureNames) {
		return failureNames[f]
	}
	return fmt.Sprintf("Failure(%d)", uint8(f))
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (f Failure) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Verdict is the IP-level verdict on an interface's path, as an IP monitor
// (ipmon) reports it over the interface's targets.
type Verdict uint8

// Verdict values.
const (
	// VerdictUnknown: no verdict yet ("unknown").
	VerdictUnknown Verdict = iota
	// VerdictAlive: the targets answer through the interface ("alive").
	VerdictAlive
	// VerdictDead: the targets stopped answering ("dead").
	VerdictDead
	// VerdictUnverified: the targets never answered since they were added,
	// so nothing can be concluded; not treated as a failure
	// ("unverified").
	VerdictUnverified
)

var verdictNames = [...]string{"unknown", "alive", "dead", "unverified"}

// String returns "unknown", "alive", "dead" or "unverified".
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Reason says why a health transition or an address move happened.
type Reason uint8

// Reason values. A switch (address move) carries ReasonLinkDown,
// ReasonIPDown, ReasonFailback or ReasonManual, or ReasonInitial for the
// first placement of the addresses. Health transitions use the others too.
const (
	// ReasonNone: no reason recorded ("").
	ReasonNone Reason = iota
	// ReasonLinkDown: carrier lost, admin down or interface gone ("link-down").
	ReasonLinkDown
	// ReasonIPDown: IP verdict dead ("ip-down").
	ReasonIPDown
	// ReasonFailback: back to the primary ("failback").
	ReasonFailback
	// ReasonManual: asked for by the application or operator ("manual").
	ReasonManual
	// ReasonInitial: first placement of the addresses ("initial").
	ReasonInitial
	// ReasonLinkUp: carrier back ("link-up").
	ReasonLinkUp
	// ReasonIPUp: IP verdict alive again ("ip-up").
	ReasonIPUp
	// ReasonEnabled: re-enabled by the operator ("enabled").
	ReasonEnabled
	// ReasonDisabled: disabled by the operator ("disabled"). A member
	// disabled by policy after an IP-level failure carries ReasonIPDown.
	ReasonDisabled
)

var reasonNames = [...]string{"", "link-down", "ip-down", "failback", "manual", "initial", "link-up", "ip-up", "enabled", "disabled"}

// String returns the reason's word, e.g. "link-down".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// FailbackPolicy says when addresses return to the primary after it
// recovers.
type FailbackPolicy uint8

// FailbackPolicy values.
const (
	// FailbackAuto: back to the primary once it has been up for the group's
	// hold-down time (and the minimum dwell time has passed) ("auto").
	FailbackAuto FailbackPolicy = iota
	// FailbackManual: only when the application calls Engine.Failback
	// ("manual"). The primary's recovery is reported.
	FailbackManual
	// FailbackNever: the addresses stay on the standby while it is healthy
	// ("never").
	FailbackNever
)

var failbackNames = [...]string{"auto", "manual", "never"}

// String returns "auto", "manual" or "never".
func (p FailbackPolicy) String() string {
	if int(p) < len(failbackNames) {
		return failbackNames[p]
	}
	return fmt.Sprintf("FailbackPolicy(%d)", uint8(p))
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (p FailbackPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParseFailbackPolicy parses "auto", "manual" or "never".
func ParseFailbackPolicy(s string) (FailbackPolicy, error) {
	for i, n := range failbackNames {
		if s == n {
			return FailbackPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("failover: unknown failback policy %q (want auto, manual or never)", s)
}

// LinkEvidence is the link-level state of one interface, as a link watcher
// (linkmon) reports it. It carries the full state, not a change.
type LinkEvidence struct {
	// Interface is the interface's name; it identifies the member.
	Interface string
	// Index is the interface index (0 if unknown).
	Index int
	// Present is false when the interface does not exist (deleted).
	Present bool
	// AdminUp is the administrative state (IFF_UP).
	AdminUp bool
	// Carrier is the kernel's carrier (IFF_LOWER_UP).
	Carrier bool
	// Time is when the state was observed (monotonic clock); zero means
	// when the engine receives it.
	Time time.Time
}

// up reports whether the link can carry traffic.
func (l LinkEvidence) up() bool { return l.Present && l.AdminUp && l.Carrier }

// IPEvidence is the IP-level verdict on one interface's path, as an IP
// monitor (ipmon) reports it. It carries the full state, not a change.
type IPEvidence struct {
	// Interface is the interface's name.
	Interface string
	// Verdict is the verdict over the interface's targets.
	Verdict Verdict
	// Time is when the verdict was reached (monotonic clock); zero means
	// when the engine receives it.
	Time time.Time
}

// evaluate derives health, failure and the reason for the health from the
// evidence. link and ip may be nil (no evidence yet). It has no side
// effects; disabled handling is left to the caller.
func evaluate(link *LinkEvidence, ip *IPEvidence) (Health, Failure, Reason) {
	if link != nil && !link.up() {
		return HealthLinkDown, FailureLinkIP, ReasonLinkDown
	}
	if ip != nil && ip.Verdict == VerdictDead {
		return HealthIPDown, FailureIPOnly, ReasonIPDown
	}
	if ip != nil && ip.Verdict == VerdictAlive {
		return HealthUp, FailureNone, ReasonIPUp
	}
	if link != nil {
		// Carrier present, no IP verdict to contradict it.
		return HealthUp, FailureNone, ReasonLinkUp
	}
	return HealthUnknown, FailureNone, ReasonNone
}
