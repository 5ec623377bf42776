package route

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"
)

// SteererConfig configures a Steerer.
type SteererConfig struct {
	// NetNS is a file descriptor of the network namespace to steer; 0 is
	// the caller's namespace. NewSteerer duplicates it (F_DUPFD_CLOEXEC):
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

	// Protocol marks the routes the Steerer installs (0: DefaultProtocol).
	// Two Steerers in one namespace and table need distinct values: each
	// removes, when it starts, every route of its protocol in its table.
	Protocol Protocol

	// Metric is the metric of installed routes (0: DefaultOverrideMetric).
	Metric uint32

	// KeepLinkdownSysctl leaves net.ipv{4,6}.conf.<if>.ignore_routes_with_linkdown
	// alone. By default the Steerer sets it to 1 on each guarded interface
	// (for the families of Prefixes) when it starts and puts back the
	// value it found on Close: the kernel then skips a route whose link
	// lost carrier at the moment it sees the loss, before any health
	// report arrives. It applies to every route through the interface.
	// Each change is marked in the kernel (SysctlMarkTable), so that a
	// Steerer started after a crash puts the value back. A sysctl already
	// at 1 is left alone (and stays 1).
	KeepLinkdownSysctl bool

	// Coalesce is the coalescing window of the Steerer's View (see
	// ViewConfig.Coalesce): the Steerer acts on kernel changes that come
	// without a route notification (carrier, admin state) at most this
	// long after them, plus the View's read. 0 means DefaultCoalesce.
	Coalesce time.Duration

	// EventBuffer is the capacity of the Events channel (0: 64). When it
	// is full, events are dropped and counted.
	EventBuffer int

	// Logger receives rare diagnostics; nil is silent.
	Logger *slog.Logger
}

func (c *SteererConfig) validate() (SteererConfig, error) {
	var out SteererConfig
	if c != nil {
		out = *c
	}
	out.Prefixes = slices.Clone(out.Prefixes)
	out.Interfaces = slices.Clone(out.Interfaces)
	if len(out.Prefixes) == 0 {
		return out, wrapErr("config", fmt.Errorf("no prefix to guard: %w", os.ErrInvalid))
	}
	if len(out.Interfaces) == 0 {
		return out, wrapErr("config", fmt.Errorf("no interface to guard: %w", os.ErrInvalid))
	}
	for i, p := range out.Prefixes {
		if !p.IsValid() {
			return out, wrapErr("config", fmt.Errorf("invalid prefix %v: %w", p, os.ErrInvalid))
		}
		if p.Bits() == p.Addr().BitLen() {
			return out, wrapErr("config", fmt.Errorf("cannot guard host prefix %v: %w", p, os.ErrInvalid))
		}
		out.Prefixes[i] = p.Masked()
	}
	for _, n := range out.Interfaces {
		if n == "" || len(n) > 15 || slices.ContainsFunc([]byte(n), func(b byte) bool { return b == '/' || b == 0 || b == ' ' }) {
			return out, wrapErr("config", fmt.Errorf("invalid interface name %q: %w", n, os.ErrInvalid))
		}
	}
	if out.Table == 0 {
		out.Table = TableMain
	}
	if out.Protocol == 0 {
		out.Protocol = DefaultProtocol
	}
	if out.Protocol <= ProtocolStatic {
		return out, wrapErr("config", fmt.Errorf("protocol %d is reserved for the kernel and administrators: %w", out.Protocol, os.ErrInvalid))
	}
	if out.Metric == 0 {
		out.Metric = DefaultOverrideMetric
	}
	if out.EventBuffer <= 0 {
		out.EventBuffer = 64
	}
	if out.NetNS < 0 {
		return out, wrapErr("config", fmt.Errorf("negative namespace descriptor: %w", os.ErrInvalid))
	}
	if out.Coalesce < 0 {
		return out, wrapErr("config", fmt.Errorf("negative coalescing window %v: %w", out.Coalesce, os.ErrInvalid))
	}
	return out, nil
}

// GuardState is the state of one guarded prefix in a SteererSnapshot.
type GuardState struct {
	// Dst is the guarded prefix.
	Dst netip.Prefix
	// Interface is the interface used for Dst.
	Interface Interface
	// Natural is the interface the kernel would use without the Steerer.
	Natural Interface
	// Steered is true while the Steerer's routes override the kernel's
	// choice.
	Steered bool
	// Reason is why Natural is not used, when Steered.
	Reason Reason
}

// SteererSnapshot is a Steerer's state and counters.
type SteererSnapshot struct {
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
	// EventsDropped counts events lost because Events was full.
	EventsDropped uint64
	// Failing is true while the last reconciliation failed to make a
	// change or the View cannot follow the kernel (see ReasonFailing).
	Failing bool
	// LastError is the last such failure (nil if none).
	LastError error
}
