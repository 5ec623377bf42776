// Command netpulsed is netpulse's deployable daemon: it keeps the service
// addresses of failover groups on a healthy interface (failoverd's job) and
// keeps the traffic of subnets off unhealthy interfaces (routeguard's job),
// for many groups and subnets at once, from a configuration file, with
// notify hooks, Prometheus metrics, a status command and systemd
// integration.
//
// # Usage
//
//	netpulsed -config FILE                      run until SIGINT or SIGTERM
//	netpulsed check -config FILE                check FILE and exit
//	netpulsed status [-socket PATH] [-json]     ask the running daemon
//
// netpulsed -config FILE runs until SIGINT or SIGTERM, then restores the
// routes and sysctls it changed, leaves the service addresses where they
// are, and exits 0. SIGHUP re-reads FILE and applies the difference: an
// unchanged group keeps its addresses and state, a changed group restarts
// with its addresses left on the member holding them, a new group starts,
// a removed group stops being managed (its addresses stay); subnets and
// polling targets likewise. A file with errors on SIGHUP is reported (the
// same FILE:LINE:COL lines as check) and the running configuration stays;
// netns, metrics.listen and control.socket cannot change without a restart.
//
// netpulsed check -config FILE prints every error as FILE:LINE:COL: message
// (unknown keys, bad prefixes, a member listed twice, an interface in two
// groups, a polling target that is one of the node's own or service
// addresses, durations out of range, interfaces that do not exist in the
// namespace...) and exits 1, or prints "FILE: ok" and exits 0. The daemon
// makes the same checks when it starts (exit 1, the same messages) and
// never starts half-configured.
//
// netpulsed status asks the daemon over its control socket (default
// /run/netpulsed.sock) and prints a table in the spirit of Serviceguard's
// cmviewcl: the groups, each member's role, whether it is active, its
// health, its failure (link+ip or ip_only) and since when; the subnets with
// the interface each now uses and their polling targets. -json prints one
// JSON object with the same content.
//
// # Configuration
//
//	netns: /var/run/netns/NAME        # optional; default: the daemon's own namespace
//	probe: {interval: 1s, timeout: 1s, fail_after: 3, recover_after: 2}
//	subnets:                          # Serviceguard's SUBNET entries
//	  - prefix: 198.18.10.0/24
//	    interfaces: [eth3, eth2]      # in order of preference
//	    ip_monitor: on                # on | off (IP_MONITOR); default on
//	    polling_targets: [198.18.10.100]   # POLLING_TARGET; absent: the first-hop router is discovered
//	    steer_routes: true            # keep this subnet's traffic off unhealthy interfaces; default true
//	    probe: {interval: 100ms}      # optional: overrides the defaults above for this subnet
//	groups:                           # local switching
//	  - name: web
//	    primary: eth3
//	    standbys: [eth2]
//	    addresses: [198.18.10.50/24, 2001:db8:10::50/64]
//	    failback: auto                # auto | manual | never; default auto
//	    hold_down: 10s                # default 10s; 0: none
//	notify: {exec: /usr/local/bin/on-netpulse-event, timeout: 5s}
//	metrics: {listen: 127.0.0.1:9310} # absent: no metrics endpoint
//	control: {socket: /run/netpulsed.sock}
//	log: {json: true}                 # the JSON-lines records on stdout; false: text lines
//
// Durations use Go's syntax. Ranges: probe interval and timeout 1ms to 1h
// (a timeout of at most 10 intervals; without a timeout it follows the
// interval), fail_after and recover_after 1 to 100, hold_down 0 to 24h,
// notify timeout 10ms to 10m. Each monitored subnet probes every polling
// target (or discovered router inside the prefix) out of each of its
// interfaces; the IP verdict of an interface feeds both the groups it is a
// member of and the subnets that list it. A target that never answered is
// "unverified": reported, but no evidence that the path is dead. At most 15
// subnets steer routes (each Steerer marks its routes with its own route
// protocol number, 241 up).
//
// # Records
//
// Standard output carries one line per event: with log.json the JSON-lines
// records of the example programs (failoverd, routeguard), field names and
// values unchanged:
//
//	{"time":T,"event":"health","interface":"eth3","state":"link-down","failure":"link+ip"}
//	{"time":T,"event":"switch","address":"198.18.10.50/24","from":"eth3","to":"eth2","reason":"link-down"}
//	{"time":T,"event":"route","dst":"198.18.10.0/24","interface":"eth2","previous":"eth3","reason":"link-down"}
//	{"time":T,"event":"subnet","group":"web","state":"subnet-down"}
//
// T is RFC 3339 UTC with nanoseconds. state is up, link-down, ip-down,
// disabled or unknown (health) and subnet-down or up (subnet: no member of
// the group is up; the addresses stay where they are); failure none,
// link+ip or ip_only; a switch reason link-down, ip-down, failback or
// manual; a route reason link-down, ip-down or recovered. Other messages
// (initial placements, reconciliations, failed actions, diagnostics) go to
// standard error as text.
//
// # Notify hook
//
// On every health, switch, route and subnet event the daemon runs
// notify.exec with no arguments, its working directory /, and these
// environment variables added to its own (NETPULSE_* ones removed): NETPULSE_EVENT (health|switch|route|subnet),
// NETPULSE_TIME (the record's time), and as they apply NETPULSE_GROUP,
// NETPULSE_INTERFACE, NETPULSE_STATE, NETPULSE_FAILURE, NETPULSE_ADDRESSES
// (comma-separated), NETPULSE_FROM, NETPULSE_TO, NETPULSE_REASON and
// NETPULSE_PREFIX, with the records' values (a health event's FROM and TO
// are the previous and new health; a route event's FROM and TO the
// previous and new interface). Hooks run in event order, one at a time, on
// their own goroutine: they never delay detection or failover. A hook
// still running at notify.timeout is killed with its process group. A
// failed or killed hook is logged and counted (netpulse_hook_failures_total);
// beyond 1024 queued events new ones are dropped and counted too. The hook
// runs as the daemon's user and, under the shipped unit, inherits its
// ambient capabilities (CAP_NET_ADMIN, CAP_NET_RAW) and its sandbox.
//
// # Metrics
//
// With metrics.listen, http://LISTEN/metrics serves the collectors of the
// importable package github.com/netpulse/netpulse/metrics (see its doc):
// netpulse_link_carrier{interface}, netpulse_interface_health{interface,state},
// netpulse_target_up{interface,target}, netpulse_target_unverified{interface,target},
// netpulse_target_rtt_seconds{interface,target}, netpulse_probes_sent_total,
// netpulse_replies_dropped_total{reason}, netpulse_group_active{group,interface},
// netpulse_switches_total{group,reason}, netpulse_route_steered{prefix,interface},
// netpulse_route_override{prefix}, netpulse_hook_failures_total, plus the
// standard process_* and go_* metrics.
//
// # systemd
//
// Type=notify: READY=1 is sent once every group's addresses are placed and
// every target's state is known (or after a bound of a few probe rounds,
// saying what is still unknown), STATUS= carries a one-line summary
// refreshed every second, RELOADING=1 and READY=1 frame a reload, and
// WATCHDOG=1 is sent at half of WATCHDOG_USEC when the unit sets
// WatchdogSec=. examples/netpulsed/netpulsed.service is a unit running
// it as an unprivileged user with CAP_NET_ADMIN and CAP_NET_RAW.
//
// # Exit codes
//
//	0  stopped by SIGINT or SIGTERM, routes and sysctls restored; check: the file is valid
//	1  a config error, a permanent error at start (a missing capability, a
//	   missing member, a metrics or control socket that cannot be opened),
//	   or routes that could not be restored on exit
//	2  a bad command line
package main
