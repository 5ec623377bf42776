// Package core is the bookkeeping ipmon.Poller and the ipmontest fake
// share, so that the fake cannot drift from the real poller: the identity
// and order of targets, and the event hub (what an event is about, how
// events of a slow subscriber are folded, how drops are told).
package core

import (
	"net/netip"
	"strings"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// Key identifies a target: its interface's name, its address and its
// probe kind (an ipmon.ProbeKind).
type Key struct {
	Iface string
	Addr  netip.Addr
	Kind  int
}

// Compare orders targets by interface name, then address, then kind: the
// order of snapshots and of a subscription's initial events.
func (a Key) Compare(b Key) int {
	if c := strings.Compare(a.Iface, b.Iface); c != 0 {
		return c
	}
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	return a.Kind - b.Kind
}

// EventKey says what an event is about, for folding: a target (Of is its
// Key), an interface's verdict (Of.Iface) or the poller's own condition.
type EventKey struct {
	What What
	Of   Key
}

// What is what an event is about.
type What uint8

// What values.
const (
	AboutTarget What = iota
	AboutVerdict
	AboutCondition
)

// Hub is the event hub of a Poller or of the fake.
type Hub = fanout.Hub[EventKey, netpulse.Event]

// NewHub returns an event hub with ipmon's keying, folding and drop
// events. ipmon sets it when it is initialized (it owns the event types).
var NewHub func() *Hub

// Targets is set by ipmon when it is initialized: a function of type
//
//	func(*ipmon.Config) (normalize func(ipmon.Target) (ipmon.Target, error), identity func(ipmon.Target) (ipmon.Target, error), rule func(iface string) ipmon.VerdictRule, err error)
//
// giving, for a Config (validated with the Poller's rules), what the
// Poller's Add and Update check and fill in (normalize), what its Remove
// checks (identity), and each interface's verdict rule. This package cannot
// name ipmon's types: ipmontest asserts the function's type.
var Targets any
