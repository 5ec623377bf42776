// Package netpulse detects link-level and IP-level network failures on Linux
// within milliseconds and acts on them. It is a library for cluster software:
// the application wires small packages together through event channels
// and small interfaces.
//
//   - linkmon watches link carrier (rtnetlink notifications, paired with a
//     cheap per-device check where the kernel delays them), with up/down
//     delays and flap damping. It answers: which interfaces have carrier,
//     now and as it changes.
//   - ipmon sends ICMP and ICMPv6 echo out of a named interface to chosen
//     targets and declares a path dead after consecutive misses, alive after
//     consecutive replies. It sees what carrier cannot: a dead switch port,
//     VLAN or first-hop router.
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
// one line each (the package Example). Every package sends its events on
// Subscribe(ctx) channels. Every constructor that talks to the kernel takes
// the network namespace to work in; on systems other than Linux the
// constructors return an error wrapping errors.ErrUnsupported.
package netpulse
