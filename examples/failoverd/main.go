// Command failoverd keeps service addresses on a healthy interface: it
// watches the carrier of a primary and its standbys (linkmon), probes their
// IP paths (ipmon), and moves the addresses from a failed member to the best
// healthy standby, failing back by policy (failover).
//
// Usage:
//
//	failoverd -primary eth3 -standby eth2[,eth4] -address 198.18.10.50/24[,2001:db8::50/64]
//	          [-target IFACE=ADDR ...] [-interval 1s] [-timeout 1s] [-fail-after 3] [-recover-after 2]
//	          [-failback auto|manual|never] [-hold-down 10s] [-json] [-netns /var/run/netns/NAME]
//
// Flags:
//
//	-primary IFACE        the interface the addresses belong on
//	-standby LIST         standby interfaces, in order of preference (repeatable)
//	-address LIST         service addresses with prefix length, IPv4, IPv6 (repeatable)
//	-target IFACE=ADDR    probe ADDR out of IFACE (repeatable); IFACE=ADDR/arp
//	                      probes with ARP (a standby without an IPv4 address),
//	                      IFACE=ADDR/ll with ICMPv6 echo from the link-local
//	                      address (a standby without an IPv6 address)
//	-interval, -timeout   probe interval and per-probe timeout
//	-fail-after N         consecutive misses that declare a target down
//	-recover-after N      consecutive replies that declare it up again
//	-failback POLICY      auto (after -hold-down), manual or never
//	-hold-down D          how long the primary must be up before auto failback
//	-json                 one JSON object per line
//	-netns PATH           work inside the network namespace bound at PATH
//
// At start failoverd puts the addresses on the member that already holds
// them, or on the primary if no member does (as soon as it is up). It prints
// each health change and each move; on SIGUSR1 it prints the status table.
// With -json, health changes and moves are one object per line:
//
//	{"time":"2026-11-22T05:00:00.123456789Z","event":"health","interface":"eth3","state":"link-down","failure":"link+ip"}
//	{"time":"2026-11-22T05:00:00.125000000Z","event":"switch","address":"198.18.10.50/24","from":"eth3","to":"eth2","reason":"link-down"}
//
// state is "up", "link-down", "ip-down", "disabled" or "unknown"; failure
// "none", "link+ip" or "ip_only"; reason "link-down", "ip-down", "failback"
// or "manual". Other messages (the initial placement, subnet-down, failed
// actions, repairs, the status table under -json) go to standard error. On
// SIGINT or SIGTERM it exits 0 and leaves the addresses where they are,
// saying so.
//
// -standby and -address may be repeated (-address A -address B is -address
// A,B); every other flag takes one value, and a second one is refused.
//
// # Faults
//
// Exit status: 0 after SIGINT or SIGTERM; 2 for a command-line error
// (printed); 1 for every other error, printed on standard error as
// "failoverd: ...". failoverd never keeps running while it cannot protect
// the addresses:
//
//   - Missing privilege. failoverd needs CAP_NET_ADMIN (addresses, rules,
//     routes) and CAP_NET_RAW (probes, gratuitous ARP, neighbour
//     advertisements). Without either it exits 1 at start, before touching
//     anything, naming the capability. A privilege lost later (EPERM,
//     EACCES on an action) also ends it with exit 1: such an error is
//     permanent, never retried in a loop.
//   - Unknown interface or target. A member or -target interface that does
//     not exist at start: exit 1 naming it.
//   - Address in use elsewhere. Before it first places the addresses,
//     failoverd checks that no other interface of the host holds them (e.g.
//     lo) and probes for them on the link (IPv4: RFC 5227 ARP probe; IPv6:
//     duplicate address detection; answers from the group's own members do
//     not count). A conflict ends it with exit 1 naming the address and the
//     holder: the interface, or the other host's MAC address. The address
//     is not taken. A move between members during a failover does not
//     probe (it is never delayed for that); it re-checks the host's own
//     interfaces only.
//   - Removed behind its back. When the active member loses a service
//     address (ip addr del, a DHCP client or network manager) or its
//     return-path rule or route, failoverd puts it back — addresses and
//     rules within milliseconds (it follows the kernel's notifications),
//     routes of the return table within 250 ms (checked periodically) — and
//     says so on standard error ("... missing on eth3 (removed behind
//     failoverd's back): put back"). At start it removes the return-path
//     rules and routes an earlier run left for addresses it no longer
//     manages (they carry protocol 78, "proto 78" in ip rule and ip route).
//   - Renamed member. A member renamed away (ip link set eth3 name eth9) is
//     gone: link-down, never chosen, its addresses moved to a healthy
//     member and taken off the renamed device; a device that later takes
//     the name is that member.
//   - Failed action. Any other failure to add, remove, steer or announce is
//     printed with "retry in D" and retried with backoff; the addresses are
//     never removed from a member before they are in place on another. A
//     member that vanishes between its last link report and an action
//     (ENODEV) is printed as "(permanent)" and tried again when a member's
//     health changes.
//   - ARP flux. When a member fails (link or IP), the members that are up
//     announce their own addresses (gratuitous ARP, unsolicited NA), so
//     that hosts that had learnt them at the dead NIC's MAC address (Linux's
//     default arp_ignore=0) reach them again at once. Setting arp_ignore=1
//     and arp_announce=2 on the members avoids the flux altogether.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/probeflags"
)

// options are the parsed command line.
type options struct {
	primary   string
	standbys  []string
	addresses []netip.Prefix
	probes    *probeflags.Flags
	failback  failover.FailbackPolicy
	holdDown  time.Duration
	json      bool
	netns     string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("failoverd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.primary, "primary", "", "primary `interface`")
	var standby, address probeflags.List
	fs.Var(&standby, "standby", "comma-separated standby interfaces, in order of preference (repeatable)")
	fs.Var(&address, "address", "comma-separated service addresses with prefix length (repeatable)")
	o.probes = probeflags.Register(fs)
	failback := fs.String("failback", "auto", "failback `policy`: auto, manual or never")
	fs.DurationVar(&o.holdDown, "hold-down", failover.DefaultHoldDown, "how long the primary must be up before an auto failback")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "work inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	if err := probeflags.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.probes.Check(); err != nil {
		return o, err
	}
	if o.primary == "" {
		return o, errors.New("-primary is required")
	}
	o.standbys = standby
	if len(o.standbys) == 0 {
		return o, errors.New("-standby needs at least one interface")
	}
	seen := map[string]bool{o.primary: true}
	for _, s := range o.standbys {
		if seen[s] {
			return o, fmt.Errorf("interface %s is named twice in -primary/-standby", s)
		}
		seen[s] = true
	}
	for _, a := range address {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return o, fmt.Errorf("-address %q: want an address with its prefix length, e.g. 198.18.10.50/24", a)
		}
		o.addresses = append(o.addresses, p)
	}
	if len(o.addresses) == 0 {
		return o, errors.New("-address needs at least one address")
	}
	var err error
	if o.failback, err = failover.ParseFailbackPolicy(*failback); err != nil {
		return o, err
	}
	if o.holdDown < 0 {
		return o, errors.New("-hold-down must not be negative")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "failoverd:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status := make(chan os.Signal, 1)
	signal.Notify(status, syscall.SIGUSR1)
	defer signal.Stop(status)
	if err := run(ctx, o, newOutput(os.Stdout, os.Stderr, o.json), status); err != nil {
		fmt.Fprintln(os.Stderr, "failoverd:", err)
		os.Exit(1)
	}
}
