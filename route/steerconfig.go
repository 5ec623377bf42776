package route

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/netpulse/netpulse"
)

// SteererConfig configures a Steerer. It has no usable default: a nil
// *SteererConfig is invalid, since a Steerer guards at least one prefix on
// at least one interface.
type SteererConfig struct {
	// NetNS is a file descriptor of the network namespace to steer; 0 is
	// the caller's namespace. OpenSteerer duplicates it (F_DUPFD_CLOEXEC):
	// the caller may close it afterwards.
	NetNS int

	// Prefixes are the guarded destinations: the Steerer steers traffic to
	// exactly these prefixes (typically the subnet routes of Interfaces).
	// Host prefixes (/32, /128) cannot be guarded.
	Prefixes []netip.Prefix

	// Interfaces are the guarded interfaces by name, in order of
	// preference: when one is unhealthy, routes to Prefixes through it
	// stop being used; among equal healthy routes the earlier wins.
	Interfaces []string

	// Table is the routing table to steer (0: main).
	Table uint32

	// Markers are the numbers that mark what the Steerer puts into the
	// kernel; zero fields take netpulse's defaults (Markers.WithDefaults).
	// It uses RouteProtocol (the protocol of the routes it installs; above
	// 4, the protocols of the kernel and administrators), RouteMetric (their
	// metric) and SysctlTable (where it marks the sysctls it changed). Two
	// Steerers in one namespace and table need distinct RouteProtocols:
	// each removes, when it starts, every route of its protocol in its
	// table.
	Markers netpulse.Markers

	// KeepLinkdownSysctl leaves net.ipv{4,6}.conf.<if>.ignore_routes_with_linkdown
	// alone. By default the Steerer sets it to 1 on each guarded interface
	// (for the families of Prefixes) when it starts and puts back the
	// value it found on Close: the kernel then skips a route whose link
	// lost carrier at the moment it sees the loss, before any health
	// report arrives. It applies to every route through the interface.
	// Each change is marked in the kernel (Markers.SysctlTable), so that a
	// Steerer started after a crash puts the value back. A sysctl already
	// at 1 is left alone (and stays 1).
	KeepLinkdownSysctl bool

	// Coalesce is the coalescing window of the Steerer's View (see
	// ViewConfig.Coalesce): the Steerer acts on kernel changes that come
	// without a route notification (carrier, admin state) at most this
	// long after them, plus the View's read. 0 means DefaultCoalesce.
	Coalesce time.Duration

	// Buffer is the capacity of each subscription's channel (0: 64).
	// Beyond it, events wait in a queue of at most MaxQueuedEvents per
	// subscriber; past that the oldest are dropped, and the subscriber is
	// told how many by a *netpulse.DropEvent.
	Buffer int

	// Logger receives rare diagnostics; nil is silent.
	Logger *slog.Logger
}

// MaxQueuedEvents is how many events wait at most for a subscriber of a
// Steerer beyond its channel's buffer.
const MaxQueuedEvents = 4096

// Validate reports whether c is a valid configuration (nil is not: a
// Steerer guards at least one prefix): at least one prefix (valid, not a
// host prefix) and one interface (a valid name), a route protocol not
// reserved for the kernel and administrators, no negative value. Every
// error it returns wraps os.ErrInvalid. OpenSteerer validates its
// SteererConfig with it.
func (c *SteererConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults validates c and returns a copy with the defaults set.
func (c *SteererConfig) withDefaults() (SteererConfig, error) {
	var out SteererConfig
	if c != nil {
		out = *c
	}
	invalid := func(format string, a ...any) (SteererConfig, error) {
		return out, fmt.Errorf("route: steerer config: "+format+": %w", append(a, os.ErrInvalid)...)
	}
	out.Prefixes = slices.Clone(out.Prefixes)
	out.Interfaces = slices.Clone(out.Interfaces)
	if len(out.Prefixes) == 0 {
		return invalid("no prefix to guard")
	}
	if len(out.Interfaces) == 0 {
		return invalid("no interface to guard")
	}
	for i, p := range out.Prefixes {
		if !p.IsValid() {
			return invalid("invalid prefix %v", p)
		}
		if p.Bits() == p.Addr().BitLen() {
			return invalid("cannot guard host prefix %v", p)
		}
		out.Prefixes[i] = p.Masked()
	}
	for _, n := range out.Interfaces {
		if n == "" || len(n) > 15 || slices.ContainsFunc([]byte(n), func(b byte) bool { return b == '/' || b == 0 || b == ' ' }) {
			return invalid("invalid interface name %q", n)
		}
	}
	if out.Table == 0 {
		out.Table = TableMain
	}
	out.Markers = out.Markers.WithDefaults()
	if Protocol(out.Markers.RouteProtocol) <= ProtocolStatic {
		return invalid("route protocol %d is reserved for the kernel and administrators", out.Markers.RouteProtocol)
	}
	if out.Buffer < 0 {
		return invalid("negative event buffer %d", out.Buffer)
	}
	if out.Buffer == 0 {
		out.Buffer = 64
	}
	if out.NetNS < 0 {
		return invalid("negative namespace descriptor %d", out.NetNS)
	}
	if out.Coalesce < 0 {
		return invalid("negative coalescing window %v", out.Coalesce)
	}
	return out, nil
}

// protocol is the protocol of the Steerer's routes and marks.
func (c *SteererConfig) protocol() Protocol { return Protocol(c.Markers.RouteProtocol) }

// GuardState is the state of one guarded prefix in a SteererSnapshot.
type GuardState struct {
	// Dst is the guarded prefix.
	Dst netip.Prefix
	// Interface is the interface used for Dst.
	Interface netpulse.Interface
	// Natural is the interface the kernel would use without the Steerer.
	Natural netpulse.Interface
	// Steered is true while the Steerer's routes override the kernel's
	// choice.
	Steered bool
	// Reason is why Natural is not used, when Steered: ReasonLinkDown,
	// ReasonIPDown or ReasonDisabled.
	Reason netpulse.Reason
}

// SteererSnapshot is a Steerer's state and counters.
type SteererSnapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time
	// Guards are the guarded prefixes' states, in the order of
	// SteererConfig.Prefixes.
	Guards []GuardState
	// Steers counts changes of the interface used for a guarded prefix.
	Steers uint64
	// RoutesAdded and RoutesDeleted count kernel route changes made.
	RoutesAdded, RoutesDeleted uint64
	// StaleRemoved counts what an earlier Steerer of the same protocol
	// left (it died without Close) and this one undid at start: its routes
	// and its sysctl marks (each mark: one sysctl put back).
	StaleRemoved uint64
	// Errors counts failed kernel changes (retried on the next change).
	Errors uint64
	// EventsDropped counts events dropped because a subscriber fell too
	// far behind (each subscriber was told by a *netpulse.DropEvent).
	EventsDropped uint64
	// Condition is the Steerer's own condition: OK is false while the
	// last reconciliation failed to make a change or the View cannot
	// follow the kernel (Err says why, Since since when); each change was
	// a *netpulse.ConditionEvent to subscribers.
	Condition netpulse.Condition
	// LastError is the last such failure (nil if none), kept after the
	// Steerer works again.
	LastError error
}
