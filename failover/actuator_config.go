package failover

import (
	"log/slog"
	"time"
)

// Defaults for ActuatorConfig.
const (
	// DefaultReturnTableBase is the first routing table number of the
	// return-path tables: the table of interface index i is base+i.
	DefaultReturnTableBase = 0x4e500000
	// DefaultRulePriority is the priority of the return-path rules (before
	// the main table's 32766).
	DefaultRulePriority = 1748
	// ReturnPathProtocol marks the return-path rules and routes as the
	// actuator's own (the rtnetlink protocol field, "proto 78" in `ip
	// rule` and `ip route`), so that Sweep finds what an earlier run left.
	ReturnPathProtocol = 78
	// DefaultConflictProbes is how many probes CheckConflict sends for an
	// address before its first placement.
	DefaultConflictProbes = 3
	// DefaultConflictProbeInterval is the time between conflict probes;
	// answers are awaited for one interval after the last.
	DefaultConflictProbeInterval = 100 * time.Millisecond
)

// ActuatorConfig configures NewActuator. A nil *ActuatorConfig means
// defaults.
//
// The return path: moving an address is not enough, because the node's
// replies from the address follow the routing table, and with two members
// on one subnet the subnet route of the failed member may still be chosen
// (the kernel keeps using a route whose link lost carrier unless
// ignore_routes_with_linkdown is set, and a path that is dead with carrier
// up is not visible to it at all). SteerReturn therefore installs, for each
// service address, a source rule "from ADDR lookup TABLE" (priority
// RulePriority) whose table holds the on-link route of the address's
// subnet through the active member. Traffic from the service addresses to
// their subnet thus leaves through the member that holds them; everything
// else (other sources, other destinations) falls through to the main table
// untouched. Rules and routes stay in place, with the addresses, when the
// program exits; they carry the protocol ReturnPathProtocol, and Sweep
// removes those of addresses no longer managed.
type ActuatorConfig struct {
	// NetNS is a file descriptor of the network namespace to act in
	// (e.g. from netlab's NS.FD or an open /var/run/netns/NAME); 0 means the
	// caller's namespace.
	NetNS int

	// ReturnTableBase is the first table number of the return-path tables
	// (default DefaultReturnTableBase).
	ReturnTableBase uint32

	// RulePriority is the priority of the return-path source rules
	// (default DefaultRulePriority).
	RulePriority uint32

	// NoReturnPath turns SteerReturn into a no-op, for a host whose routes
	// are steered by other means (e.g. the route package's Steerer).
	NoReturnPath bool

	// ConflictProbes is how many probes (RFC 5227 ARP probes for IPv4,
	// duplicate address detection neighbour solicitations for IPv6)
	// CheckConflict sends before an address is first placed (default
	// DefaultConflictProbes; negative: no probe, only the local check).
	ConflictProbes int

	// ConflictProbeInterval is the time between probes (default
	// DefaultConflictProbeInterval). RFC 5227 asks for 1-2 s; the first
	// placement waits ConflictProbes x ConflictProbeInterval.
	ConflictProbeInterval time.Duration

	// Logger, nil for silence.
	Logger *slog.Logger
}
