// Package linkmon watches the link level of a host's network interfaces:
// carrier, operational state and administrative state, as a table and as a
// stream of changes, delivered as soon as the kernel notifies them (and,
// for NIC-like devices, within about one carrier-check interval).
//
// A Watcher subscribes to the kernel's link notifications (rtnetlink group
// RTNLGRP_LINK) before it dumps the link table, so that no change between
// the two is lost, and treats every notification as new full state. When the
// kernel reports a lost notification (ENOBUFS) the watcher dumps the table
// again, diffs it against its own and emits what changed.
//
// The kernel delays carrier-loss notifications of NIC-like devices (those
// whose ifindex equals their iflink: every physical NIC) by up to a second:
// its linkwatch work for them is non-urgent and runs at most once a second
// for the whole host. A per-device RTM_GETLINK query reads the driver's
// carrier bit at once and makes the kernel process that device's pending
// event, so the watcher queries each watched, administratively up NIC-like
// device every Config.CheckInterval (10 ms by default). Devices that the
// kernel notifies urgently (veth ends with distinct indexes, VLANs, other
// stacked devices) are never polled.
//
// # Carrier: the reported view and the kernel's
//
// State.Carrier is the view an application acts on: the kernel's carrier
// (IFF_LOWER_UP) after the configured up-delay, down-delay and flap damping.
// With the defaults (no delays, no damping) it is the kernel's carrier as
// soon as the watcher sees it. The kernel's own carrier bit, undelayed, is
// State.KernelCarrier. Events are emitted when the reported view (or another
// visible attribute) changes, not when only KernelCarrier changes during a
// delay.
//
// Administrative state is kept apart from carrier loss: a link set down by an
// operator has AdminUp false (and no carrier, because the kernel reports none
// for a down device). State.CarrierLost is true only for a link that is
// administratively up and has no carrier: a failure.
//
// # Subscribers
//
// Subscribe returns a channel that first delivers the current state of every
// watched link, then every change. Each event carries the full new state and
// the previous one. A slow subscriber never blocks the kernel reader or other
// subscribers: once its channel buffer is full, later states of a link that
// is already waiting are coalesced into one event (counted in
// Snapshot.Counters.Coalesced), so the latest state of every link always
// reaches it, in order per link. Its queue is capped: one that stops reading
// without cancelling loses the oldest events, superseded ones first, and is
// told how many by a *netpulse.DropEvent before the next event it receives.
//
// The stream also carries the watcher's own condition
// (*netpulse.ConditionEvent): when its sockets fail, at each failed reopen,
// and when they are reopened.
//
// # Cost and latency
//
// Links that the kernel notifies promptly cost no CPU while quiet. A change
// reaches a subscriber as soon as the kernel's notification is read; every
// subscriber receives the same *LinkEvent, and events are allocated in
// small blocks (less than one allocation per change). On a NIC-like link
// the carrier check bounds the delay by about one CheckInterval; it costs
// one timer wake-up per interval plus a part linear in the number of
// NIC-like links. The README gives measured figures.
package linkmon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/words"
)

// Damping configures flap damping. Each carrier loss of an administratively up
// link adds Penalty to the link's penalty, which decays exponentially with
// HalfLife. When the penalty exceeds Suppress the link is reported damped
// (State.Damped, and Carrier false) until the penalty decays below Reuse.
// A zero field takes its default.
type Damping struct {
	// Penalty added per carrier loss. Default 1000.
	Penalty float64
	// HalfLife of the penalty. Default 5 s.
	HalfLife time.Duration
	// Suppress is the penalty above which a link is damped. Default 2000.
	Suppress float64
	// Reuse is the penalty below which a damped link is released. Default 750.
	Reuse float64
	// Max caps the penalty, which bounds how long a link stays damped after
	// it stops flapping (HalfLife * log2(Max/Reuse)). Default 4 * Suppress.
	Max float64
}

// Config configures a Watcher. A nil *Config means the defaults; the zero
// value of every field is its default.
type Config struct {
	// NetNS is a file descriptor of the network namespace to watch (e.g. an
	// open /var/run/netns/NAME). 0 means the caller's namespace. Open
	// duplicates it (F_DUPFD_CLOEXEC) for the watcher's later socket
	// reopens and Close closes the duplicate: the caller keeps ownership of
	// its descriptor and may close it as soon as Open returns.
	NetNS int

	// Interfaces selects the interfaces to watch. Empty watches every
	// interface, including ones that appear later. An entry with a Name
	// selects by name (its Index is ignored: the name is authoritative); one
	// with only an Index selects that index. A selected interface that does
	// not exist when Open runs is an error (wrapping os.ErrNotExist) unless
	// AllowMissing is set; one that appears later (again) with a matching
	// name or index is picked up.
	Interfaces []netpulse.Interface

	// AllowMissing lets Open succeed when a selected interface does not
	// exist yet.
	AllowMissing bool

	// UpDelay is how long carrier must stay up before a link is reported up
	// (bonding's updelay). A shorter carrier-up is not reported but counted
	// in State.Suppressed. Exception: when no watched link is reported up, a
	// link coming up is reported at once, because waiting would keep the
	// application without any usable link. 0: no delay.
	UpDelay time.Duration

	// DownDelay is how long carrier must stay down before a link is reported
	// down (bonding's downdelay). A shorter loss is not reported but counted.
	// 0: no delay.
	DownDelay time.Duration

	// Damping enables flap damping. nil: no damping.
	Damping *Damping

	// Ethtool adds ethtool detail (link detected, speed, duplex,
	// autonegotiation) to the state of links whose driver supports it. The
	// queries run off the event path: a carrier event is delivered first and
	// an event with the new detail follows.
	Ethtool bool

	// ReadBuffer is the receive buffer of the notification socket in bytes.
	// 0 means 4 MiB. The kernel enforces a floor (2304 bytes); a small buffer
	// makes overruns (ENOBUFS) likely, which the watcher recovers from by
	// dumping the table again.
	ReadBuffer int

	// CheckInterval is the period of the per-device carrier check of NIC-like
	// devices (ifindex == iflink), whose carrier-loss notifications the
	// kernel may hold back for a second. Only administratively up NIC-like
	// links that are watched are checked; with none, nothing runs. A check
	// is one ETHTOOL_GLINK ioctl, followed by an RTM_GETLINK query only when
	// the driver's answer differs from the table. The cost is one timer
	// wake-up per interval (about what a bare Go ticker of that period
	// costs) plus a part that grows linearly with the number of links.
	//
	// 0 means 10 ms for up to 8 NIC-like links, stretched beyond that to
	// keep the total at 800 checks a second (64 links: 80 ms). A positive
	// value (at least 100us) is used as is. Ignored with NoCarrierCheck.
	CheckInterval time.Duration

	// NoCarrierCheck turns the carrier check off: carrier loss on NIC-like
	// links is then seen when the kernel notifies it (up to a second late).
	NoCarrierCheck bool

	// Buffer is the channel capacity of each subscription. 0 means 64.
	Buffer int

	// Logger receives rare diagnostics (socket errors, reopen attempts).
	// nil: silent. Nothing is logged per event.
	Logger *slog.Logger
}

const (
	defaultReadBuffer    = 4 << 20
	defaultCheckInterval = 10 * time.Millisecond
	// maxAutoChecks is the rate of carrier checks a defaulted CheckInterval
	// keeps to: 8 links at 10 ms.
	maxAutoChecks = 800
	defaultBuffer = 64
)

// config is a validated Config with defaults applied.
type config struct {
	Config            // Damping is a copy, with its defaults
	autoInterval bool // CheckInterval was defaulted: stretch it for many links
}

// Validate reports whether c is a valid configuration (nil is: the
// defaults). Every error it returns wraps os.ErrInvalid and names the field.
// Open validates its Config with it.
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("linkmon: "+format+": %w", append(a, os.ErrInvalid)...)
}

// resolve validates c and returns it with the defaults applied.
func (c *Config) resolve() (*config, error) {
	var cfg config
	if c != nil {
		cfg.Config = *c
	}
	cfg.Interfaces = append([]netpulse.Interface(nil), cfg.Interfaces...)
	if cfg.NetNS < 0 {
		return nil, invalid("NetNS: invalid file descriptor %d", cfg.NetNS)
	}
	for _, ifi := range cfg.Interfaces {
		if ifi.Index < 0 {
			return nil, invalid("Interfaces: invalid index %d", ifi.Index)
		}
		if ifi.Name != "" || ifi.Index == 0 {
			if ifi.Name == "" || len(ifi.Name) >= 16 || strings.ContainsAny(ifi.Name, "/ \t\n\x00:") {
				return nil, invalid("Interfaces: invalid name %q", ifi.Name)
			}
		}
	}
	if cfg.UpDelay < 0 {
		return nil, invalid("UpDelay: negative %v", cfg.UpDelay)
	}
	if cfg.DownDelay < 0 {
		return nil, invalid("DownDelay: negative %v", cfg.DownDelay)
	}
	if cfg.ReadBuffer < 0 {
		return nil, invalid("ReadBuffer: negative %d", cfg.ReadBuffer)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = defaultReadBuffer
	}
	if cfg.CheckInterval < 0 {
		return nil, invalid("CheckInterval: negative %v (NoCarrierCheck turns the check off)", cfg.CheckInterval)
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = defaultCheckInterval
		cfg.autoInterval = true
	}
	if cfg.CheckInterval < 100*time.Microsecond {
		return nil, invalid("CheckInterval: %v is below 100us", cfg.CheckInterval)
	}
	if cfg.Buffer < 0 {
		return nil, invalid("Buffer: negative %d", cfg.Buffer)
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = defaultBuffer
	}
	if c != nil && c.Damping != nil {
		d := *c.Damping
		if d.Penalty == 0 {
			d.Penalty = 1000
		}
		if d.HalfLife == 0 {
			d.HalfLife = 5 * time.Second
		}
		if d.Suppress == 0 {
			d.Suppress = 2000
		}
		if d.Reuse == 0 {
			d.Reuse = 750
		}
		if d.Max == 0 {
			d.Max = 4 * d.Suppress
		}
		if d.Penalty < 0 || d.HalfLife < 0 || d.Reuse <= 0 || d.Suppress <= d.Reuse || d.Max < d.Suppress {
			return nil, invalid("Damping: %+v: need Penalty >= 0, HalfLife >= 0, 0 < Reuse < Suppress <= Max", d)
		}
		cfg.Damping = &d
	}
	return &cfg, nil
}

// An OperState is the kernel's operational state of a link (RFC 2863,
// IFLA_OPERSTATE).
type OperState uint8

// Operational states, with the kernel's values.
const (
	OperStateUnknown        OperState = 0
	OperStateNotPresent     OperState = 1
	OperStateDown           OperState = 2
	OperStateLowerLayerDown OperState = 3
	OperStateTesting        OperState = 4
	OperStateDormant        OperState = 5
	OperStateUp             OperState = 6
)

var operNames = [...]string{"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"}

// String returns the kernel's lower-case name: "up", "down",
// "lowerlayerdown", "dormant", "testing", "notpresent", "unknown".
func (o OperState) String() string { return words.Name(operNames[:], o, "OperState") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (o OperState) MarshalText() ([]byte, error) {
	return words.Marshal(operNames[:], o, "linkmon", "OperState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (o *OperState) UnmarshalText(b []byte) error {
	return words.Unmarshal(operNames[:], b, o, "linkmon", "OperState")
}

// A Tristate is a yes/no answer that may be unknown.
type Tristate uint8

// Tristate values.
const (
	TristateUnknown Tristate = iota
	TristateNo
	TristateYes
)

var tristateNames = [...]string{"unknown", "no", "yes"}

// String returns "unknown", "no" or "yes".
func (t Tristate) String() string { return words.Name(tristateNames[:], t, "Tristate") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (t Tristate) MarshalText() ([]byte, error) {
	return words.Marshal(tristateNames[:], t, "linkmon", "Tristate")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (t *Tristate) UnmarshalText(b []byte) error {
	return words.Unmarshal(tristateNames[:], b, t, "linkmon", "Tristate")
}

// A Duplex is a link's duplex mode as ethtool reports it.
type Duplex uint8

// Duplex values.
const (
	DuplexUnknown Duplex = iota
	DuplexHalf
	DuplexFull
)

var duplexNames = [...]string{"unknown", "half", "full"}

// String returns "unknown", "half" or "full".
func (d Duplex) String() string { return words.Name(duplexNames[:], d, "Duplex") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (d Duplex) MarshalText() ([]byte, error) {
	return words.Marshal(duplexNames[:], d, "linkmon", "Duplex")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (d *Duplex) UnmarshalText(b []byte) error {
	return words.Unmarshal(duplexNames[:], b, d, "linkmon", "Duplex")
}

// Detail is what ethtool tells about a link, when Config.Ethtool is set and
// the driver supports it. Unknown stays unknown: a driver without ethtool
// support reports Supported false and every field unknown, never "down".
type Detail struct {
	// Read is true once ethtool has been asked about the link (with
	// Config.Ethtool), whatever the driver answered: before that, every
	// other field is unknown because nobody asked yet. Read becoming true
	// with nothing else changed is no event (Snapshot shows it).
	Read bool
	// Supported is true when the driver answered ethtool's link-mode query.
	Supported bool
	// LinkDetected is ethtool's "Link detected". A driver without a link
	// query reports TristateUnknown.
	LinkDetected Tristate
	// SpeedMbps is the speed in Mbit/s; 0 when unknown.
	SpeedMbps int
	// Duplex is the duplex mode.
	Duplex Duplex
	// Autoneg is whether autonegotiation is on.
	Autoneg Tristate
}

// State is the state of one link, as one value. States are values: a State
// received from the watcher is never modified afterwards (HardwareAddr must
// not be modified by the receiver either).
type State struct {
	// Index is the interface index.
	Index int
	// Name is the interface name.
	Name string
	// Present is false in the event that reports a link deleted, or no
	// longer matching Config.Interfaces (renamed away).
	Present bool
	// Carrier is the reported carrier: the kernel's IFF_LOWER_UP after
	// UpDelay, DownDelay and damping. This is what an application acts on.
	Carrier bool
	// KernelCarrier is the kernel's carrier bit (IFF_LOWER_UP) as last seen,
	// undelayed.
	KernelCarrier bool
	// AdminUp is IFF_UP: false when an operator set the link down.
	AdminUp bool
	// Oper is the kernel's operational state.
	Oper OperState
	// MTU is the link's MTU.
	MTU int
	// HardwareAddr is the link-layer address (nil if none). Shared: do not
	// modify.
	HardwareAddr net.HardwareAddr
	// NICLike is true when the device's ifindex equals its iflink (physical
	// NICs, bridges, bonds, dummies): the kernel batches its carrier-loss
	// notifications, so the watcher checks its carrier every CheckInterval.
	NICLike bool
	// Damped is true while flap damping suppresses the link (then Carrier
	// is false).
	Damped bool
	// Penalty is the damping penalty at the time of the last change.
	Penalty float64
	// Changed is the (monotonic) time of the last change of this state.
	Changed time.Time
	// Ups and Downs count reported carrier transitions.
	Ups, Downs uint64
	// KernelTransitions counts carrier transitions the kernel showed.
	KernelTransitions uint64
	// Suppressed counts carrier transitions shorter than UpDelay/DownDelay,
	// not reported.
	Suppressed uint64
	// Detail is ethtool's view (zero unless Config.Ethtool).
	Detail Detail
}

// CarrierLost reports whether s is a link failure: present, administratively
// up and without (reported) carrier.
func (s State) CarrierLost() bool { return s.Present && s.AdminUp && !s.Carrier }

// Interface returns the link's identity. Its Index is 0 when the link is
// not present (deleted, or renamed away from the selection), as
// netpulse.Interface documents.
func (s State) Interface() netpulse.Interface {
	if !s.Present {
		return netpulse.Interface{Name: s.Name}
	}
	return netpulse.Interface{Index: s.Index, Name: s.Name}
}

// Link returns the link-level state in netpulse's vocabulary: up when the
// link is present, administratively up and has (reported) carrier, down
// otherwise.
func (s State) Link() netpulse.State {
	if s.Present && s.AdminUp && s.Carrier {
		return netpulse.StateUp
	}
	return netpulse.StateDown
}

// A LinkEvent is a change of one link's state. The first events of a
// subscription (Initial true) carry the current state of every watched link.
// A LinkEvent is shared by every subscriber that receives it: never modify
// it (nor its states' HardwareAddr).
type LinkEvent struct {
	// Time is when the watcher produced the event (with a monotonic
	// reading); for an initial event, when the link entered its state
	// (State.Changed).
	Time time.Time
	// State is the full new state.
	State State
	// Previous is the state before the change; the zero State for an
	// initial event or a link that just appeared.
	Previous State
	// Initial marks the events that replay the table to a new subscriber.
	Initial bool
	// Seq numbers the watcher's link changes, increasing. Initial events
	// carry the Seq of the latest change at subscription time.
	Seq uint64
}

// EventTime returns e.Time.
func (e *LinkEvent) EventTime() time.Time { return e.Time }

// Coalesce returns the one event a subscriber that fell behind receives in
// place of e followed by newer, an event of the same link: the transition
// from e's previous state straight to newer's state, as a new event (e and
// newer are not modified). ok is false when both must be delivered: a
// deletion is never merged away. Watcher and the linkmontest fake coalesce
// by this rule.
func (e *LinkEvent) Coalesce(newer *LinkEvent) (merged *LinkEvent, ok bool) {
	if !e.State.Present {
		return e, false
	}
	m := *newer
	m.Previous = e.Previous
	m.Initial = e.Initial
	return &m, true
}

// Counters are what an operator should watch.
type Counters struct {
	// Events counts link changes emitted (each delivered to every
	// subscriber); condition events are not counted.
	Events uint64
	// Overruns counts ENOBUFS on the notification socket (lost
	// notifications, recovered by a dump).
	Overruns uint64
	// Dumps counts full table dumps, DumpRetries the ones interrupted
	// (NLM_F_DUMP_INTR) and retried.
	Dumps, DumpRetries uint64
	// Checks counts per-device carrier checks; CheckChanges the ones that
	// found a change before its notification arrived.
	Checks, CheckChanges uint64
	// Coalesced counts events merged into a later one for a slow subscriber.
	Coalesced uint64
	// EventsDropped counts events dropped for subscribers that fell behind by
	// more than their queue's cap (a *netpulse.DropEvent tells each
	// subscriber).
	EventsDropped uint64
	// Reopens counts reopened sockets after a fatal error.
	Reopens uint64
	// Dropped counts malformed or foreign netlink messages ignored.
	Dropped uint64
	// EthtoolErrors counts failed ethtool queries other than "unsupported".
	EthtoolErrors uint64
}

// Snapshot is the watcher's table at one moment.
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time
	// Links are the watched links, ordered by index.
	Links []State
	// Counters are cumulative since Open.
	Counters Counters
	// Condition is the watcher's own condition: OK is false between a
	// fatal socket error and a successful reopen, Err is then the latest
	// error (an *Error), Since the time of the first failure. The watcher
	// never stops on its own: it reopens its sockets with backoff (10 ms
	// doubling to 5 s); each failed attempt sets Err anew. Each change is
	// also a *netpulse.ConditionEvent on every subscription.
	Condition netpulse.Condition
}

// Link returns the state of the link named name, and whether it is watched.
func (s Snapshot) Link(name string) (State, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return State{}, false
}

// An Error is an error of the watcher: the operation, the interface when one
// is concerned, and the cause. It answers errors.Is with os.ErrNotExist for
// a missing interface or unsupported feature, os.ErrPermission for EPERM and
// errors.ErrUnsupported on systems other than Linux.
type Error struct {
	// Op is what failed, e.g. "open", "receive", "dump", "check".
	Op string
	// Interface is the interface concerned, if any.
	Interface netpulse.Interface
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := "linkmon: " + e.Op
	if e.Interface != (netpulse.Interface{}) {
		s += " " + e.Interface.String()
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is maps errno causes onto the standard sentinels.
func (e *Error) Is(target error) bool {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return false
	}
	switch target {
	case os.ErrNotExist:
		return errno == syscall.ENODEV || errno == syscall.ENOENT || errno == syscall.EOPNOTSUPP
	case os.ErrPermission:
		return errno == syscall.EPERM || errno == syscall.EACCES
	}
	return false
}
