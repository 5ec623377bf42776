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
//	-standby LIST         standby interfaces, in order of preference
//	-address LIST         service addresses with prefix length (IPv4, IPv6)
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
// actions, the status table under -json) go to standard error. On SIGINT or
// SIGTERM it exits 0 and leaves the addresses where they are, saying so.
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
	"strings"
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

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("failoverd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.primary, "primary", "", "primary `interface`")
	var standby, address []string
	fs.Var(listFlag{&standby}, "standby", "comma-separated standby interfaces, in order of preference (repeatable)")
	fs.Var(listFlag{&address}, "address", "comma-separated service addresses with prefix length (repeatable)")
	o.probes = probeflags.Register(fs)
	failback := fs.String("failback", "auto", "failback `policy`: auto, manual or never")
	fs.DurationVar(&o.holdDown, "hold-down", failover.DefaultHoldDown, "how long the primary must be up before an auto failback")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "work inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	refuseRepeats(fs, "standby", "address", "target")
	if err := fs.Parse(args); err != nil {
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
	if o.holdDown == 0 {
		o.holdDown = -1 // the engine's "no hold-down"
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
