// Package netpulse detects link-level and IP-level network failures on Linux
// within milliseconds and acts on them. It is a library for cluster software:
// the application wires four small packages together through event channels
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
//   - failover turns link and IP evidence into the health of each interface,
//     moves service addresses from a failed primary to a healthy standby,
//     fails back by policy and reports link-level and IP-level failures
//     apart.
//
// An application subscribes to linkmon's link events and ipmon's target
// events, feeds both into the failover engine (or into route's health for
// steering alone), and lets the engine's decisions drive route steering and
// address moves. Every constructor that talks to the kernel takes the network
// namespace to work in; on systems other than Linux the constructors return
// an error wrapping errors.ErrUnsupported.
//
// This package holds documentation and runnable examples only.
package netpulse
