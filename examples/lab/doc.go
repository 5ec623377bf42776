// Command lab demonstrates, on the real kernel, every failure netpulse
// handles. It builds its own network namespaces, wires linkmon, ipmon, route
// and failover as an application would, injects each failure in turn and
// prints a timeline with the time netpulse took to detect and repair it.
// It removes everything it created when it ends, also on Ctrl-C or a
// failure, and leaves the host's own links, addresses and routes alone.
//
// Usage:
//
//	sudo go run ./examples/lab [-json] [-step N]
//
// Flags:
//
//	-json    print the timeline as JSON lines (see below) instead of text
//	-step N  run only step N (1-5); default: all five in order
//
// The network (namespaces named nplab-<pid>-<name> while it runs, so that
// `ip netns exec` can look inside):
//
//	node: eth3 198.18.10.3/24 (primary, its subnet route came first) ─┐
//	node: eth2 198.18.10.2/24 (standby)                               ├─ switch (bridge) ─┬─ server 198.18.10.100
//	                                                                  │                   ├─ router 198.18.10.1 (each interface's polling target)
//	                                                                  │                   └─ peer   198.18.10.200
//
// The node's service address 198.18.10.50/24 starts on eth3. netpulse
// probes the router out of each interface every 10 ms (a path is dead after
// 3 misses), guards the route to 198.18.10.0/24, and fails the service
// address over between eth3 and eth2 (failback auto, 1 s hold-down).
//
// The steps:
//
//  1. the CIP failure: carrier lost on eth3, whose subnet route the kernel
//     uses; the route is steered to eth2 and the server is reachable again;
//     carrier back, routes restored;
//  2. an IP-only failure: eth3's switch port is detached (carrier stays);
//     reported as IP-only, the address moves to eth2;
//  3. the standby's path dies while it is idle: reported at once; when the
//     primary fails next the address is not moved to the dead standby
//     (subnet-down);
//  4. the primary recovers after a failover: the recovery is seen and the
//     address fails back after the hold-down;
//  5. a flapping link is damped.
//
// Each step ends with a verdict line ("step N ok" or "step N FAILED", with
// the measured milliseconds from the fault); the end prints the failover
// status table and a summary. The exit status is 0 only if every step
// behaved as expected, 1 otherwise (and without root), 2 for a bad command
// line (a flag given twice, an extra argument, a step out of range); a
// non-zero exit always prints its reason on stderr.
//
// With -json, standard output carries one JSON object per line: the records
// of the other examples ("link", "target", "route", "health", "switch"; see
// examples/netwatch, examples/routeguard, examples/failoverd), plus
//
//	{"time": T, "event": "step", "step": n, "name": text, "ok": bool, "measures": [{"what": text, "ms": float}], "problems": [text]}
//	{"time": T, "event": "summary", "ok": bool, "steps": n, "failed": n, "seconds": float, "status": <failover status object>}
//
// where T is RFC 3339 UTC with nanoseconds.
package main
