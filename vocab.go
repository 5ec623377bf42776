package netpulse

import (
	"strconv"
	"time"

	"github.com/netpulse/netpulse/internal/words"
)

// Interface names a network interface in the network namespace a component
// works in. Name is authoritative: it is how interfaces are configured, and
// it stays right across re-creation. Index is the kernel's interface index
// when the component knows it, 0 when the interface does not exist (or is
// not known yet). Only the package that owns a namespace resolves one from
// the other; the other packages take both from its events.
type Interface struct {
	// Index is the kernel's interface index (0: none known).
	Index int
	// Name is the interface's name, authoritative.
	Name string
}

// String returns the name, or "#index" for an interface known only by
// index.
func (i Interface) String() string {
	if i.Name != "" || i.Index == 0 {
		return i.Name
	}
	return "#" + strconv.Itoa(i.Index)
}

// State is one level's verdict on an interface: the link level (carrier,
// admin state) or the IP level (probes).
type State uint8

// State values.
const (
	// StateUnknown: no evidence ("unknown").
	StateUnknown State = iota
	// StateUp: the level works ("up").
	StateUp
	// StateDown: the level failed ("down").
	StateDown
)

var stateNames = [...]string{"unknown", "up", "down"}

// String returns "unknown", "up" or "down".
func (s State) String() string { return words.Name(stateNames[:], s, "State") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (s State) MarshalText() ([]byte, error) {
	return words.Marshal(stateNames[:], s, "netpulse", "State")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *State) UnmarshalText(b []byte) error {
	return words.Unmarshal(stateNames[:], b, s, "netpulse", "State")
}

// Verdict is the IP-level verdict on an interface's path, over the targets
// probed through it. There is one meaning of dead in netpulse: a path is
// dead only when a target that answered stopped answering. Targets that
// never answered are VerdictUnverified: no evidence either way, so nothing
// acts on them.
type Verdict uint8

// Verdict values.
const (
	// VerdictUnknown: no verdict yet ("unknown").
	VerdictUnknown Verdict = iota
	// VerdictAlive: the targets answer through the interface ("alive").
	VerdictAlive
	// VerdictDead: targets that answered stopped answering ("dead").
	VerdictDead
	// VerdictUnverified: the targets never answered since they were added
	// ("unverified"). Not a failure.
	VerdictUnverified
)

var verdictNames = [...]string{"unknown", "alive", "dead", "unverified"}

// String returns "unknown", "alive", "dead" or "unverified".
func (v Verdict) String() string { return words.Name(verdictNames[:], v, "Verdict") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (v Verdict) MarshalText() ([]byte, error) {
	return words.Marshal(verdictNames[:], v, "netpulse", "Verdict")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (v *Verdict) UnmarshalText(b []byte) error {
	return words.Unmarshal(verdictNames[:], b, v, "netpulse", "Verdict")
}

// State is the verdict as an IP-level State: alive is up, dead is down,
// unknown and unverified are unknown.
func (v Verdict) State() State {
	switch v {
	case VerdictAlive:
		return StateUp
	case VerdictDead:
		return StateDown
	}
	return StateUnknown
}

// Health is the health of one interface, from its link and IP evidence (and,
// in failover, the operator's disable flag).
type Health uint8

// Health values. Their words are those of the status reports and of the
// example programs' JSON lines.
const (
	// HealthUnknown: no evidence yet ("unknown").
	HealthUnknown Health = iota
	// HealthUp: carrier present and the IP path not known dead ("up").
	HealthUp
	// HealthLinkDown: carrier lost, admin down or the interface is gone: a
	// link-level failure, which is also an IP-level one ("link-down").
	HealthLinkDown
	// HealthIPDown: carrier present but the IP path is dead: an IP-only
	// failure ("ip-down").
	HealthIPDown
	// HealthDisabled: taken out of service by the operator, or by policy
	// after an IP-level failure, until re-enabled ("disabled").
	HealthDisabled
)

var healthNames = [...]string{"unknown", "up", "link-down", "ip-down", "disabled"}

// String returns "unknown", "up", "link-down", "ip-down" or "disabled".
func (h Health) String() string { return words.Name(healthNames[:], h, "Health") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (h Health) MarshalText() ([]byte, error) {
	return words.Marshal(healthNames[:], h, "netpulse", "Health")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (h *Health) UnmarshalText(b []byte) error {
	return words.Unmarshal(healthNames[:], b, h, "netpulse", "Health")
}

// Failure classifies what failed on an interface: link-level and IP-level
// failures are reported apart.
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
func (f Failure) String() string { return words.Name(failureNames[:], f, "Failure") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (f Failure) MarshalText() ([]byte, error) {
	return words.Marshal(failureNames[:], f, "netpulse", "Failure")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (f *Failure) UnmarshalText(b []byte) error {
	return words.Unmarshal(failureNames[:], b, f, "netpulse", "Failure")
}

// Reason says why something changed: an interface's health, a steered
// route, an address move, or a component's own condition. One vocabulary
// serves every package; each documents which reasons it uses.
type Reason uint8

// Reason values.
const (
	// ReasonNone: no reason recorded ("").
	ReasonNone Reason = iota
	// ReasonLinkDown: carrier lost, admin down or interface gone ("link-down").
	ReasonLinkDown
	// ReasonIPDown: the IP path is dead ("ip-down").
	ReasonIPDown
	// ReasonFailback: addresses back to the primary ("failback").
	ReasonFailback
	// ReasonManual: asked for by the application or operator ("manual").
	ReasonManual
	// ReasonInitial: first placement of addresses ("initial").
	ReasonInitial
	// ReasonLinkUp: carrier back ("link-up").
	ReasonLinkUp
	// ReasonIPUp: the IP path alive again ("ip-up").
	ReasonIPUp
	// ReasonEnabled: re-enabled by the operator ("enabled").
	ReasonEnabled
	// ReasonDisabled: disabled by the operator ("disabled").
	ReasonDisabled
	// ReasonRecovered: the kernel's own route is healthy again and used
	// ("recovered").
	ReasonRecovered
	// ReasonRemoved: the route used before is gone ("removed").
	ReasonRemoved
	// ReasonReconciled: what the kernel held was brought back in line after
	// someone changed it ("reconciled").
	ReasonReconciled
	// ReasonRestored: the kernel's state restored at Close ("restored").
	ReasonRestored
	// ReasonFailing: the component itself stopped working, e.g. its kernel
	// socket failed ("failing").
	ReasonFailing
	// ReasonWorking: the component works again ("working").
	ReasonWorking
)

var reasonNames = [...]string{"", "link-down", "ip-down", "failback", "manual", "initial",
	"link-up", "ip-up", "enabled", "disabled", "recovered", "removed", "reconciled",
	"restored", "failing", "working"}

// String returns the reason's word, e.g. "link-down" ("" for ReasonNone).
func (r Reason) String() string { return words.Name(reasonNames[:], r, "Reason") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (r Reason) MarshalText() ([]byte, error) {
	return words.Marshal(reasonNames[:], r, "netpulse", "Reason")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (r *Reason) UnmarshalText(b []byte) error {
	return words.Unmarshal(reasonNames[:], b, r, "netpulse", "Reason")
}

// Evidence is what is known about one interface's health at both levels,
// as one value: the full state, not a change. The health package derives
// it from link and IP monitors; route.Steerer and failover.Engine act on it
// (they are Observers).
type Evidence struct {
	// Time is when the latest change in this evidence was observed (with a
	// monotonic reading).
	Time time.Time
	// Interface is the interface. Index is 0 when it does not exist
	// (deleted, or renamed away from Name).
	Interface Interface
	// Link is the link-level state: up with carrier and admin up, down
	// without either or when the interface does not exist, unknown before
	// the first observation.
	Link State
	// IP is the verdict over the interface's targets (VerdictUnknown when
	// it has none).
	IP Verdict
}

// Health is the interface's health from the evidence: link-down when the
// link is down, ip-down when the link is not down and the IP path is dead,
// up when either level is up and neither is down, unknown otherwise.
func (e Evidence) Health() Health {
	switch {
	case e.Link == StateDown:
		return HealthLinkDown
	case e.IP == VerdictDead:
		return HealthIPDown
	case e.Link == StateUp || e.IP == VerdictAlive:
		return HealthUp
	}
	return HealthUnknown
}

// Failure classifies the failure the evidence shows.
func (e Evidence) Failure() Failure {
	switch e.Health() {
	case HealthLinkDown:
		return FailureLinkIP
	case HealthIPDown:
		return FailureIPOnly
	}
	return FailureNone
}

// An Observer acts on interface evidence: route.Steerer steers by it,
// failover.Engine moves addresses by it. Observe must not block for long
// (it is called from the feeding goroutine) and is safe for concurrent use.
type Observer interface {
	Observe(Evidence)
}

// Condition is a component's own condition, apart from what it watches:
// whether its kernel sockets and notifications work.
type Condition struct {
	// OK is false while something the component needs fails; it retries by
	// itself.
	OK bool
	// Err says what fails (nil when OK).
	Err error
	// Since is when the condition began (zero: since the component opened).
	Since time.Time
}
