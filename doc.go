// Package netpulse detects link-level and IP-level network failures on Linux
// within milliseconds and acts on them. It is a library for cluster software:
// the application wires small packages together through event channels
// and small interfaces.
//
//   - linkmon watches link carrier (rtnetlink notifications, paired with a
//     cheap per-device check where the kernel delays them), with up/down
//     delays and flap damping. It answers: which interfaces have carrier,
//     now and as it changes.
//   - ipmon sends ICMP and ICMPv6 echo (or ARP probes, or runs BFD sessions)
//     out of a named interface to chosen targets, declares a target down
//     after consecutive misses and up after consecutive replies, and decides
//     each interface's verdict over its targets. It sees what carrier
//     cannot: a dead switch port, VLAN or first-hop router.
//   - route keeps a view of the kernel's routes, answers which route a
//     destination takes, selects one whose interface is healthy, and can
//     steer the kernel's routes away from an unhealthy interface.
//   - health turns linkmon's link events and ipmon's verdicts into one
//     netpulse.Evidence per interface, keyed by name across renames and
//     re-creation, with one meaning of dead (a target that never answered
//     is no evidence), and feeds it to the components that act on it
//     (health.Monitor.Feed).
//   - failover turns that evidence into the health of each group member,
//     moves service addresses from a failed primary to a healthy standby,
//     fails back by policy and reports link-level and IP-level failures
//     apart.
//
// This root package holds the vocabulary the packages share: Interface
// (name and index, the name authoritative), State, Verdict, Health,
// Failure, Reason, Evidence and the Observer that acts on it (route.Steerer
// and failover.Engine are Observers), Condition, the events every
// Subscribe channel may carry besides a package's own (ConditionEvent,
// DropEvent), and the Markers of what netpulse puts in the kernel.
//
// An application opens linkmon and ipmon, hands both to a health.Monitor,
// and feeds the Monitor's evidence to a route.Steerer and a failover.Engine,
// one line each (the package Example).
//
// # One convention in every package
//
// Constructors. A constructor that opens kernel sockets is named Open
// (linkmon.Open, ipmon.Open, route.OpenView, route.OpenSteerer,
// failover.OpenActuator, and failover.Open, whose Engine opens a
// KernelActuator when it is given none); one that opens nothing is named New
// (route.NewTable and the fakes: linkmontest.New, ipmontest.New,
// routetest.NewView, failovertest.NewRecorder...). An Open (and a New that
// needs a setup) takes a ctx and a *Config, nil meaning the defaults: ctx
// bounds the setup (the first dumps, the privilege checks); cancelling it
// later has no effect: Close ends the object. Close is idempotent, returns
// once every goroutine the object started has stopped, and releases
// everything it opened.
//
// Errors. Every invalid Config or argument wraps os.ErrInvalid; each Config
// says why with its Validate method, which its constructor calls. A method of
// a closed object returns an error wrapping net.ErrClosed. A missing
// privilege wraps os.ErrPermission, and whatever would open kernel sockets
// returns an error wrapping errors.ErrUnsupported on systems other than
// Linux (a New opens nothing and works everywhere; so does failover.Open
// given an Actuator).
//
// Events. Every object that reports changes has Subscribe(ctx), a channel
// of Event values closed when ctx ends or the object is closed: the
// package's own pointer event types (each with a Time), a *ConditionEvent
// for the object's own condition and a *DropEvent when the subscriber fell
// behind its queue's cap. Each Subscribe documents which types it sends and
// how it folds a slow subscriber's events.
//
// Vocabulary. Interfaces are Interface values (the name authoritative; only
// the package that owns a namespace resolves names there); health, verdicts,
// failures and reasons are this package's enums, whose constants carry
// their type's name and which print and marshal as the JSON records' words.
package netpulse
