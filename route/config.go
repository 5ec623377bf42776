package route

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/netpulse/netpulse"
)

// ViewConfig configures a View. A nil *ViewConfig means defaults.
type ViewConfig struct {
	// NetNS is a file descriptor of the network namespace to watch
	// (e.g. from /var/run/netns/NAME); 0 means the caller's namespace.
	// OpenView duplicates it (F_DUPFD_CLOEXEC): the caller may close it
	// afterwards.
	NetNS int

	// Tables lists the routing tables to keep; the first is the one
	// Lookup and Select use. Empty means the main table (254) only.
	Tables []uint32

	// Prefer lists interface names in order of preference, to break ties
	// between equal routes in Select.
	Prefer []string

	// ReadBuffer is the notification socket's receive buffer in bytes.
	// 0 means 4 MiB (forced past net.core.rmem_max when privileged), so
	// that notifications arriving during a long dump of a large table do
	// not overrun it; small values force overruns in tests.
	ReadBuffer int

	// Coalesce bounds how often the view reads again the routes that
	// link, address and netconf notifications may have changed: the
	// first change after a quiet period is read at once, later ones are
	// gathered until Coalesce (or five times the duration of the last
	// read, if longer) has passed since the last read. Lookup reflects
	// such a change at most that long, plus the read, after it. 0 means
	// DefaultCoalesce.
	Coalesce time.Duration

	// Logger receives rare diagnostics (overruns, dump failures); nil is
	// silent.
	Logger *slog.Logger

	// redumpEveryHint restores the behaviour before coalescing (a full
	// dump after every batch holding a link, address or netconf hint),
	// as the baseline of the churn trial.
	redumpEveryHint bool
}

// DefaultCoalesce is the default ViewConfig.Coalesce.
const DefaultCoalesce = 10 * time.Millisecond

// Validate reports whether c is a valid configuration (nil is: the
// defaults): no negative buffer, window or descriptor, no table 0. Every
// error it returns wraps os.ErrInvalid. OpenView validates its ViewConfig
// with it.
func (c *ViewConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults validates c and returns a copy with the defaults set.
func (c *ViewConfig) withDefaults() (ViewConfig, error) {
	var out ViewConfig
	if c != nil {
		out = *c
	}
	invalid := func(format string, a ...any) (ViewConfig, error) {
		return out, fmt.Errorf("route: view config: "+format+": %w", append(a, os.ErrInvalid)...)
	}
	out.Tables = slices.Clone(out.Tables)
	out.Prefer = slices.Clone(out.Prefer)
	if out.ReadBuffer < 0 {
		return invalid("negative read buffer %d", out.ReadBuffer)
	}
	if out.ReadBuffer == 0 {
		out.ReadBuffer = 4 << 20
	}
	if out.Coalesce < 0 {
		return invalid("negative coalescing window %v", out.Coalesce)
	}
	if out.Coalesce == 0 {
		out.Coalesce = DefaultCoalesce
	}
	if len(out.Tables) == 0 {
		out.Tables = []uint32{TableMain}
	}
	for _, t := range out.Tables {
		if t == 0 {
			return invalid("table 0 is not a routing table")
		}
	}
	if out.NetNS < 0 {
		return invalid("negative namespace descriptor %d", out.NetNS)
	}
	return out, nil
}

// Error is the error type of the package's kernel operations. It wraps the
// cause, so errors.Is works with the cause's sentinels: os.ErrPermission
// for EPERM (no CAP_NET_ADMIN), the kernel's errno (unix.ENETDOWN...),
// errors.ErrUnsupported off Linux. A bad configuration is not an *Error:
// it wraps os.ErrInvalid (ViewConfig.Validate, SteererConfig.Validate).
type Error struct {
	// Op is what failed, e.g. "dump routes", "enter namespace".
	Op string
	// Err is the cause.
	Err error
}

// Error returns "route: <op>: <cause>".
func (e *Error) Error() string { return "route: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return err
	}
	return &Error{Op: op, Err: err}
}

// ViewSnapshot holds a view's counters.
type ViewSnapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time
	// Routes is the number of routes in the first table.
	Routes int
	// Overruns counts ENOBUFS on the notification socket (each followed by
	// a full dump).
	Overruns uint64
	// Dumps counts full dumps (initial, after an overrun, after a link or
	// netconf change).
	Dumps uint64
	// DumpRetries counts dumps retried because the kernel marked them
	// interrupted (NLM_F_DUMP_INTR).
	DumpRetries uint64
	// DecodeErrors counts notifications that could not be decoded.
	DecodeErrors uint64
	// ReceiveErrors counts failures of the notification socket other than
	// overruns; after each the view replaces the socket (backing off from
	// 10 ms to 5 s while it keeps failing) and dumps again.
	ReceiveErrors uint64
	// LastError is the last such failure (nil if none).
	LastError error
	// Updates counts changes delivered to subscribers.
	Updates uint64
	// Condition is the view's own condition: OK is false while the view
	// cannot follow the kernel, because its notification socket fails or
	// a dump fails (Err and LastError say why, Since since when).
	// Subscribers receive a *netpulse.ConditionEvent when it changes.
	Condition netpulse.Condition
	// Refreshes counts completed re-reads after link, address or netconf
	// changes (of the interfaces concerned, or full dumps).
	Refreshes uint64
	// HintsIgnored counts link and netconf notifications that change no
	// route (statistics, MTU, other sysctls).
	HintsIgnored uint64
	// FullDumpsDelayed counts full dumps held back to bound their CPU.
	FullDumpsDelayed uint64
}
