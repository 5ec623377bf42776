package ipmon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/netpulse/netpulse/ipmon/internal/core"
)

// Defaults applied to a Target field left zero (and to Config fields left
// zero).
const (
	DefaultInterval     = time.Second
	DefaultFailAfter    = 3
	DefaultRecoverAfter = 2
	DefaultLossWindow   = 100

	// MinInterval is the shortest probe interval accepted.
	MinInterval = time.Millisecond
	// MaxTimeout is the longest per-probe timeout accepted.
	MaxTimeout = time.Minute
	// maxOutstanding bounds Timeout/Interval: the probes of one target that
	// can be in flight at once.
	maxOutstanding = 1024
)

// Sentinel errors. Every error returned by this package wraps one of them (or
// a system error such as os.ErrPermission, or net.ErrClosed once the Poller
// is closed), so test them with errors.Is.
var (
	// ErrInvalidTarget: a target is malformed or out of range (multicast,
	// broadcast, unspecified, wrong family, bad durations or thresholds).
	// It also satisfies errors.Is(err, os.ErrInvalid), as every invalid
	// Config does (Config.Validate).
	ErrInvalidTarget error = invalidError("ipmon: invalid target")
	// ErrLocalAddress: the target is an address of this host. A node can
	// always ping itself, so such a target would prove nothing.
	ErrLocalAddress = errors.New("ipmon: target is a local address")
	// ErrUnknownInterface: no interface of that name exists in the
	// namespace. It also satisfies errors.Is(err, os.ErrNotExist).
	ErrUnknownInterface error = unknownInterfaceError{}
	// ErrExists: Add of a target (interface, address, kind) already added.
	ErrExists = errors.New("ipmon: target already added")
	// ErrNotFound: Remove or Update of a target that was not added.
	ErrNotFound = errors.New("ipmon: no such target")
)

// errClosed is what every method of a closed Poller returns: net.ErrClosed,
// the one "closed" of the standard library and of every netpulse package.
var errClosed = fmt.Errorf("ipmon: poller closed: %w", net.ErrClosed)

// errInvalidConfig is what every Config error wraps.
var errInvalidConfig error = invalidError("ipmon: invalid config")

// invalidError is an error of bad input: it answers errors.Is for
// os.ErrInvalid.
type invalidError string

func (e invalidError) Error() string      { return string(e) }
func (invalidError) Is(target error) bool { return target == os.ErrInvalid }

type unknownInterfaceError struct{}

func (unknownInterfaceError) Error() string        { return "ipmon: unknown interface" }
func (unknownInterfaceError) Is(target error) bool { return target == os.ErrNotExist }

// Mode chooses the kind of ICMP socket.
type Mode int

const (
	// ModeAuto opens raw sockets if the process may (CAP_NET_RAW), else
	// unprivileged datagram ("ping") sockets.
	ModeAuto Mode = iota
	// ModeRaw uses raw sockets (ip4:icmp, ip6:ipv6-icmp); needs CAP_NET_RAW.
	ModeRaw
	// ModeUnprivileged uses datagram ICMP sockets; needs the process's group
	// in net.ipv4.ping_group_range (which also gates ICMPv6).
	ModeUnprivileged
)

// ProbeKind is how a target is probed.
type ProbeKind int

const (
	// ProbeEcho sends ICMP echo (IPv4) or ICMPv6 echo (IPv6) requests from an
	// address of the interface itself (or Target.Source), never from
	// another interface's: the reply then comes back to this interface
	// and tests its path both ways. The Poller picks it (IPv4: a primary
	// address whose prefix holds the target first; IPv6: a usable global
	// address, else the link-local one) and picks again when the
	// interface's addresses change. An interface that is up with no
	// address of the target's family holds the target (HoldNoSource) until
	// it gets one.
	ProbeEcho ProbeKind = iota
	// ProbeARP sends RFC 5227 ARP probes (sender protocol address 0.0.0.0)
	// for an IPv4 target out of the interface through AF_PACKET, so that an
	// interface without an IPv4 address of its own (a standby) can test its
	// path; no neighbour cache learns anything from it. A reply is an ARP
	// reply from the target's address arriving on the interface. Needs
	// CAP_NET_RAW in every mode.
	ProbeARP
	// ProbeLinkLocalEcho sends ICMPv6 echo for an IPv6 target from the
	// interface's own link-local address (looked up when the target is
	// added), so that an interface without a global address of its own (a
	// standby) tests its path in both directions: the reply is addressed
	// to that interface, not to an address that lives on another one. The
	// interface needs a route to the target: usually the target is itself
	// a link-local address (a router's, as Discover proposes). Without one
	// every send fails, and the target, never having answered, is reported
	// Unverified.
	ProbeLinkLocalEcho
	// ProbeBFD runs a single-hop BFD session (RFC 5880, RFC 5881) with the
	// target out of the interface: UDP control packets to port 3784 with
	// TTL 255. Target.Interval is the desired transmit and required receive
	// interval, Target.FailAfter the Detect Mult (1..255), Target.Passive
	// the passive role; Timeout and RecoverAfter are not used (BFD's
	// three-way handshake is its own debounce). The target is Up while the
	// session is Up, Down once it left Up, and Unverified if it never came
	// Up within (Detect Mult + 1) x 1 s. See the package documentation,
	// "BFD sessions".
	ProbeBFD
)

// TargetState is the state of one target.
type TargetState int

const (
	// TargetUnknown: no verdict yet (just added, or removed) ("unknown").
	TargetUnknown TargetState = iota
	// TargetUp: the target answers ("up").
	TargetUp
	// TargetDown: the target answered since it was added, then missed
	// FailAfter consecutive probes ("down").
	TargetDown
	// TargetUnverified: the target never answered since it was added and
	// missed FailAfter consecutive probes ("unverified"). A target must
	// answer to be of use; this says so instead of a silent "down".
	TargetUnverified
)

// RuleKind names a verdict rule.
type RuleKind int

const (
	// RuleAny: the interface is alive if at least one target is up.
	RuleAny RuleKind = iota
	// RuleAll: alive only if every target is up.
	RuleAll
	// RuleQuorum: alive if at least N targets are up.
	RuleQuorum
)

// VerdictRule decides an interface's verdict from its targets' states. Only
// TargetUp counts as evidence of a working path; TargetDown and
// TargetUnverified count against; TargetUnknown counts as "could still be
// up". See Decide for how the counts become a verdict.
type VerdictRule struct {
	// Kind is the rule: RuleAny, RuleAll or RuleQuorum.
	Kind RuleKind
	// N is the quorum for Kind == RuleQuorum (at least 1).
	N int
}

// String returns "any", "all" or "quorum N".
func (r VerdictRule) String() string {
	if r.Kind == RuleQuorum {
		return fmt.Sprintf("quorum %d", r.N)
	}
	return r.Kind.String()
}

// required returns how many targets out of total must be up.
func (r VerdictRule) required(total int) int {
	switch r.Kind {
	case RuleAll:
		return total
	case RuleQuorum:
		return r.N
	}
	return 1
}

func (r VerdictRule) validate(kind error) error {
	switch r.Kind {
	case RuleAny, RuleAll:
		return nil
	case RuleQuorum:
		if r.N < 1 {
			return fmt.Errorf("%w: quorum rule needs N >= 1, got %d", kind, r.N)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown verdict rule %d", kind, int(r.Kind))
}

// Config configures a Poller. A nil *Config means all defaults.
type Config struct {
	// NetNS is a file descriptor of the network namespace to work in
	// (sockets, interface and address lookups). 0 means the calling
	// thread's namespace. Open works on its own duplicate (closed by
	// Close): the caller may close this one as soon as Open returns.
	NetNS int

	// Mode chooses raw or unprivileged ICMP sockets. ModeAuto (default) tries
	// raw first, then unprivileged.
	Mode Mode

	// StrictIngress makes a reply count only if it arrived on the
	// interface its probe left from. By default a reply counts whatever
	// interface it arrives on (the probe's egress is what is tested), and
	// replies arriving elsewhere are counted per target
	// (TargetStats.OtherIngress). Turn it on for hosts set up with
	// arp_ignore=1 and arp_announce=2 (or arp_filter=1); with Linux's
	// defaults two interfaces on one subnet answer ARP for each other
	// ("ARP flux"), the reply to eth3's probe may arrive on eth2, and strict
	// ingress would then declare a healthy eth3 down. The Poller checks
	// these sysctls when a target is added and reports a diagnostic
	// (Snapshot.Diagnostics, and the Logger) when they make strict ingress
	// unreliable.
	StrictIngress bool

	// Logger receives rare diagnostics (never one line per probe). nil:
	// silent.
	Logger *slog.Logger

	// Interval, Timeout, FailAfter and RecoverAfter are the defaults for
	// targets that leave the field zero. Zero here means DefaultInterval,
	// Timeout = Interval, DefaultFailAfter, DefaultRecoverAfter.
	Interval     time.Duration
	Timeout      time.Duration
	FailAfter    int
	RecoverAfter int

	// LossWindow is how many of a target's most recent probes the loss
	// figure covers (default 100, at most 1024).
	LossWindow int

	// Verdict is the rule deciding each interface's verdict (default RuleAny).
	Verdict VerdictRule
	// InterfaceVerdict overrides Verdict for named interfaces.
	InterfaceVerdict map[string]VerdictRule
}

// Validate reports whether c is a valid configuration (nil is: the
// defaults; a zero field stands for its default). Every error it returns
// wraps os.ErrInvalid. Open validates its Config with it.
func (c *Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults returns a validated copy of c with defaults filled in.
func (c *Config) withDefaults() (Config, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	switch cfg.Mode {
	case ModeAuto, ModeRaw, ModeUnprivileged:
	default:
		return cfg, fmt.Errorf("%w: unknown mode %d", errInvalidConfig, int(cfg.Mode))
	}
	if cfg.NetNS < 0 {
		return cfg, fmt.Errorf("%w: negative namespace fd %d", errInvalidConfig, cfg.NetNS)
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 || cfg.FailAfter < 0 || cfg.RecoverAfter < 0 {
		return cfg, fmt.Errorf("%w: negative default timing (interval %v, timeout %v, fail-after %d, recover-after %d)",
			errInvalidConfig, cfg.Interval, cfg.Timeout, cfg.FailAfter, cfg.RecoverAfter)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = cfg.Interval
	}
	if cfg.FailAfter == 0 {
		cfg.FailAfter = DefaultFailAfter
	}
	if cfg.RecoverAfter == 0 {
		cfg.RecoverAfter = DefaultRecoverAfter
	}
	if cfg.LossWindow == 0 {
		cfg.LossWindow = DefaultLossWindow
	}
	if cfg.LossWindow < 1 || cfg.LossWindow > 1024 {
		return cfg, fmt.Errorf("%w: loss window %d out of range 1..1024", errInvalidConfig, cfg.LossWindow)
	}
	if err := checkTiming(errInvalidConfig, cfg.Interval, cfg.Timeout, cfg.FailAfter, cfg.RecoverAfter); err != nil {
		return cfg, err
	}
	if err := cfg.Verdict.validate(errInvalidConfig); err != nil {
		return cfg, err
	}
	m := make(map[string]VerdictRule, len(cfg.InterfaceVerdict))
	for name, r := range cfg.InterfaceVerdict {
		if err := r.validate(errInvalidConfig); err != nil {
			return cfg, fmt.Errorf("interface %q: %w", name, err)
		}
		m[name] = r
	}
	cfg.InterfaceVerdict = m
	return cfg, nil
}

func (c *Config) rule(iface string) VerdictRule {
	if r, ok := c.InterfaceVerdict[iface]; ok {
		return r
	}
	return c.Verdict
}

// checkTiming checks timings; its errors wrap kind (ErrInvalidTarget or
// errInvalidConfig).
func checkTiming(kind error, interval, timeout time.Duration, failAfter, recoverAfter int) error {
	if interval < MinInterval {
		return fmt.Errorf("%w: interval %v below %v", kind, interval, MinInterval)
	}
	if timeout <= 0 || timeout > MaxTimeout {
		return fmt.Errorf("%w: timeout %v out of range (0, %v]", kind, timeout, MaxTimeout)
	}
	if timeout/interval >= maxOutstanding {
		return fmt.Errorf("%w: timeout %v is more than %d intervals of %v", kind, timeout, maxOutstanding, interval)
	}
	if failAfter < 1 || failAfter > 1000 {
		return fmt.Errorf("%w: fail-after %d out of range 1..1000", kind, failAfter)
	}
	if recoverAfter < 1 || recoverAfter > 1000 {
		return fmt.Errorf("%w: recover-after %d out of range 1..1000", kind, recoverAfter)
	}
	return nil
}

// Target is an address probed out of one interface. A target is identified
// by (Interface, Addr, Kind); the other fields can be changed with Update.
type Target struct {
	// Addr is the address probed (IPv4 or IPv6; an IPv6 link-local address
	// is probed on Interface, its zone if any must name Interface).
	Addr netip.Addr
	// Interface is the name of the interface whose path is tested: probes
	// leave through it.
	Interface string
	// Source, if valid, is the source address of the probes; it must be of
	// Addr's family and an address of this host. Invalid (zero): an
	// address of Interface itself, chosen by the Poller (see ProbeEcho).
	Source netip.Addr
	// Interval between probes, per-probe Timeout, consecutive misses to
	// declare the target down (FailAfter) and consecutive replies to
	// declare it up again (RecoverAfter). Zero: the Config's default.
	Interval     time.Duration
	Timeout      time.Duration
	FailAfter    int
	RecoverAfter int
	// Kind is how the target is probed (default ProbeEcho).
	Kind ProbeKind
	// Passive makes a BFD session wait for the peer's first packet before
	// sending any (RFC 5880 6.1); two ends of which one is passive peer
	// each other. Only for Kind ProbeBFD.
	Passive bool
}

// String returns "IFACE=ADDR" (with "/arp", "/ll" or "/bfd" appended for
// ProbeARP, ProbeLinkLocalEcho and ProbeBFD), the form ParseTargetSpec
// reads.
func (t Target) String() string {
	s := t.Interface + "=" + t.Addr.String()
	switch t.Kind {
	case ProbeARP:
		s += "/arp"
	case ProbeLinkLocalEcho:
		s += "/ll"
	case ProbeBFD:
		s += "/bfd"
	}
	return s
}

// DetectionBound returns the longest time from the moment t's target stops
// answering to the moment it is declared down, scheduling jitter aside:
// FailAfter x Interval + Timeout. t must have its defaults filled (as in
// Snapshot or TargetEvent).
func (t Target) DetectionBound() time.Duration {
	return time.Duration(t.FailAfter)*t.Interval + t.Timeout
}

// key identifies a target.
type key struct {
	iface string
	addr  netip.Addr
	kind  ProbeKind
}

func (t Target) key() key { return key{t.Interface, t.Addr, t.Kind} }

func (k key) core() core.Key { return core.Key{Iface: k.iface, Addr: k.addr, Kind: int(k.kind)} }

// CompareTargetEvidence orders evidence by address, then kind: the order of
// VerdictEvent.Evidence.
func CompareTargetEvidence(a, b TargetEvidence) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	return int(a.Kind) - int(b.Kind)
}

// normalize fills defaults from cfg and checks what can be checked without
// the kernel.
func (t Target) normalize(cfg *Config) (Target, error) {
	if t.Interface == "" || len(t.Interface) > 15 || strings.ContainsAny(t.Interface, "/ \x00") {
		return t, fmt.Errorf("%w: interface name %q", ErrInvalidTarget, t.Interface)
	}
	a := t.Addr
	if !a.IsValid() {
		return t, fmt.Errorf("%w: no address", ErrInvalidTarget)
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if z := a.Zone(); z != "" {
		if z != t.Interface {
			return t, fmt.Errorf("%w: %v: zone %q is not interface %q", ErrInvalidTarget, t.Addr, z, t.Interface)
		}
		a = a.WithZone("")
	}
	t.Addr = a
	switch {
	case a.IsUnspecified():
		return t, fmt.Errorf("%w: %v is unspecified", ErrInvalidTarget, a)
	case a.IsMulticast():
		return t, fmt.Errorf("%w: %v is multicast", ErrInvalidTarget, a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return t, fmt.Errorf("%w: %v is the broadcast address", ErrInvalidTarget, a)
	case a.IsLoopback():
		return t, fmt.Errorf("%w: %v is a loopback address", ErrLocalAddress, a)
	}
	if t.Source.IsValid() {
		s := t.Source.Unmap().WithZone("")
		if s.Is4() != a.Is4() {
			return t, fmt.Errorf("%w: source %v and target %v are of different families", ErrInvalidTarget, t.Source, a)
		}
		if s.IsUnspecified() || s.IsMulticast() {
			return t, fmt.Errorf("%w: source %v", ErrInvalidTarget, t.Source)
		}
		t.Source = s
	}
	switch t.Kind {
	case ProbeEcho:
	case ProbeARP:
		if !a.Is4() {
			return t, fmt.Errorf("%w: ARP probes need an IPv4 target, got %v", ErrInvalidTarget, a)
		}
		if t.Source.IsValid() {
			return t, fmt.Errorf("%w: an ARP probe's sender address is 0.0.0.0 (RFC 5227); Source must be empty", ErrInvalidTarget)
		}
	case ProbeLinkLocalEcho:
		if a.Is4() {
			return t, fmt.Errorf("%w: link-local echo needs an IPv6 target, got %v", ErrInvalidTarget, a)
		}
		if t.Source.IsValid() {
			return t, fmt.Errorf("%w: link-local echo uses the interface's link-local address; Source must be empty", ErrInvalidTarget)
		}
	case ProbeBFD:
		if t.FailAfter > 255 {
			return t, fmt.Errorf("%w: a BFD Detect Mult is at most 255, got %d", ErrInvalidTarget, t.FailAfter)
		}
	default:
		return t, fmt.Errorf("%w: unknown probe kind %d", ErrInvalidTarget, int(t.Kind))
	}
	if t.Passive && t.Kind != ProbeBFD {
		return t, fmt.Errorf("%w: Passive is for BFD targets only", ErrInvalidTarget)
	}
	if t.Interval == 0 {
		t.Interval = cfg.Interval
	}
	if t.Timeout == 0 {
		t.Timeout = cfg.Timeout
		if t.Interval != cfg.Interval && cfg.Timeout == cfg.Interval {
			// The default timeout follows the target's own interval.
			t.Timeout = t.Interval
		}
	}
	if t.FailAfter == 0 {
		t.FailAfter = cfg.FailAfter
	}
	if t.RecoverAfter == 0 {
		t.RecoverAfter = cfg.RecoverAfter
	}
	if err := checkTiming(ErrInvalidTarget, t.Interval, t.Timeout, t.FailAfter, t.RecoverAfter); err != nil {
		return t, fmt.Errorf("target %v: %w", t, err)
	}
	return t, nil
}

// ParseTargetSpec parses "IFACE=ADDR" (the form of a -target flag) into a
// Target with Kind ProbeEcho; "IFACE=ADDR/arp" gives a ProbeARP target,
// "IFACE=ADDR/ll" a ProbeLinkLocalEcho one and "IFACE=ADDR/bfd" a ProbeBFD
// one. The address may be IPv4 or IPv6 (a zone, if written, must name
// IFACE).
// Timings are left zero (the Poller's defaults).
func ParseTargetSpec(spec string) (Target, error) {
	iface, addr, ok := strings.Cut(spec, "=")
	if !ok || iface == "" || addr == "" {
		return Target{}, fmt.Errorf("%w: %q is not IFACE=ADDR", ErrInvalidTarget, spec)
	}
	kind := ProbeEcho
	if a, ok := strings.CutSuffix(addr, "/arp"); ok {
		addr, kind = a, ProbeARP
	} else if a, ok := strings.CutSuffix(addr, "/ll"); ok {
		addr, kind = a, ProbeLinkLocalEcho
	} else if a, ok := strings.CutSuffix(addr, "/bfd"); ok {
		addr, kind = a, ProbeBFD
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return Target{}, fmt.Errorf("%w: %q: %v", ErrInvalidTarget, spec, err)
	}
	t := Target{Addr: a, Interface: iface, Kind: kind}
	if _, err := identity(t); err != nil {
		return Target{}, err
	}
	return t, nil
}
