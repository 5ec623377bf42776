package failover

import (
	"fmt"
	"os"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/words"
)

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
func (p FailbackPolicy) String() string { return words.Name(failbackNames[:], p, "FailbackPolicy") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (p FailbackPolicy) MarshalText() ([]byte, error) {
	return words.Marshal(failbackNames[:], p, "failover", "FailbackPolicy")
}

// ParseFailbackPolicy parses "auto", "manual" or "never"; another word is
// an error wrapping os.ErrInvalid.
func ParseFailbackPolicy(s string) (FailbackPolicy, error) {
	for i, n := range failbackNames {
		if s == n {
			return FailbackPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("failover: unknown failback policy %q (want auto, manual or never): %w", s, os.ErrInvalid)
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words
// (see ParseFailbackPolicy).
func (p *FailbackPolicy) UnmarshalText(b []byte) error {
	v, err := ParseFailbackPolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// linkEvidence is the link-level part of an interface's evidence: up with
// carrier and admin up, down otherwise (no carrier, admin down, damped,
// gone). It carries the full state, not a change.
type linkEvidence struct {
	// Index is the interface index (0 when the interface is gone).
	Index int
	// Up is true when the link can carry traffic.
	Up bool
	// Time is when the state was observed (monotonic clock).
	Time time.Time
}

// ipEvidence is the IP-level part of an interface's evidence: the verdict
// over its targets. It carries the full state, not a change.
type ipEvidence struct {
	// Verdict is the verdict over the interface's targets.
	Verdict netpulse.Verdict
	// Time is when the verdict was observed (monotonic clock).
	Time time.Time
}

// evaluate derives health, failure and the reason for the health from the
// evidence. link and ip may be nil (no evidence yet). It has no side
// effects; disabled handling is left to the caller.
func evaluate(link *linkEvidence, ip *ipEvidence) (netpulse.Health, netpulse.Failure, netpulse.Reason) {
	if link != nil && !link.Up {
		return netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonLinkDown
	}
	if ip != nil && ip.Verdict == netpulse.VerdictDead {
		return netpulse.HealthIPDown, netpulse.FailureIPOnly, netpulse.ReasonIPDown
	}
	if ip != nil && ip.Verdict == netpulse.VerdictAlive {
		return netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonIPUp
	}
	if link != nil {
		// Carrier present, no IP verdict to contradict it.
		return netpulse.HealthUp, netpulse.FailureNone, netpulse.ReasonLinkUp
	}
	return netpulse.HealthUnknown, netpulse.FailureNone, netpulse.ReasonNone
}
