package failover

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/netpulse/netpulse"
)

// Defaults for ActuatorConfig.
const (
	// DefaultConflictProbes is how many probes CheckConflict sends for an
	// address before its first placement.
	DefaultConflictProbes = 3
	// DefaultConflictProbeInterval is the time between conflict probes;
	// answers are awaited for one interval after the last.
	DefaultConflictProbeInterval = 100 * time.Millisecond
)

// ActuatorConfig configures a KernelActuator (OpenActuator). A nil
// *ActuatorConfig means defaults.
//
// The return path: moving an address is not enough, because the node's
// replies from the address follow the routing table, and with two members
// on one subnet the subnet route of the failed member may still be chosen
// (the kernel keeps using a route whose link lost carrier unless
// ignore_routes_with_linkdown is set, and a path that is dead with carrier
// up is not visible to it at all). SteerReturn therefore installs, for each
// service address, a source rule "from ADDR lookup TABLE" (priority
// Markers.RulePriority) whose table (Markers.ReturnTableBase plus the
// interface index) holds the on-link route of the address's subnet through
// the active member. Traffic from the service addresses to their subnet
// thus leaves through the member that holds them; everything else (other
// sources, other destinations) falls through to the main table untouched.
// Rules and routes stay in place, with the addresses, when the program
// exits; they carry the protocol Markers.ReturnProtocol, and Sweep removes
// those of addresses no longer managed.
type ActuatorConfig struct {
	// NetNS is a file descriptor of the network namespace to act in (e.g.
	// an open /var/run/netns/NAME); 0 means the caller's namespace. The
	// actuator duplicates it: the caller may close its own at once.
	NetNS int

	// Markers are the numbers that mark the return-path rules and routes
	// as this actuator's own: Markers.ReturnProtocol, ReturnTableBase and
	// RulePriority (zero fields take their defaults: Markers.WithDefaults). Two
	// programs in one namespace need distinct markers.
	Markers netpulse.Markers

	// NoReturnPath turns SteerReturn into a no-op, for a host whose routes
	// are steered by other means (e.g. the route package's Steerer).
	NoReturnPath bool

	// ConflictProbes is how many probes (RFC 5227 ARP probes for IPv4,
	// duplicate address detection neighbour solicitations for IPv6)
	// CheckConflict sends before an address is first placed (default
	// DefaultConflictProbes).
	ConflictProbes int

	// NoConflictProbe turns the probes off: CheckConflict only checks the
	// host's own interfaces.
	NoConflictProbe bool

	// ConflictProbeInterval is the time between probes (default
	// DefaultConflictProbeInterval). RFC 5227 asks for 1-2 s; the first
	// placement waits ConflictProbes x ConflictProbeInterval.
	ConflictProbeInterval time.Duration

	// Logger, nil for silence.
	Logger *slog.Logger
}

// Validate reports whether c is a valid configuration (nil is: the
// defaults). Every error it returns wraps os.ErrInvalid and names the
// first invalid field. OpenActuator validates its ActuatorConfig with it.
func (c *ActuatorConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults validates c and returns a copy with every default filled in.
func (c *ActuatorConfig) withDefaults() (ActuatorConfig, error) {
	var v ActuatorConfig
	if c != nil {
		v = *c
	}
	invalid := func(format string, args ...any) (ActuatorConfig, error) {
		return v, fmt.Errorf("failover: ActuatorConfig: "+format+": %w", append(args, os.ErrInvalid)...)
	}
	switch {
	case v.NetNS < 0:
		return invalid("invalid namespace descriptor %d", v.NetNS)
	case v.ConflictProbes < 0:
		return invalid("negative ConflictProbes %d (NoConflictProbe turns the probes off)", v.ConflictProbes)
	case v.ConflictProbeInterval < 0:
		return invalid("negative ConflictProbeInterval %v", v.ConflictProbeInterval)
	}
	v.Markers = v.Markers.WithDefaults()
	if v.ConflictProbes == 0 {
		v.ConflictProbes = DefaultConflictProbes
	}
	if v.ConflictProbeInterval == 0 {
		v.ConflictProbeInterval = DefaultConflictProbeInterval
	}
	return v, nil
}
