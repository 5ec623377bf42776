// Command routeguard keeps traffic to the subnets of the named interfaces
// off an interface whose link or IP path is down, using netpulse's route
// Steerer fed by linkmon (carrier) and ipmon (ICMP/ICMPv6 echo probes).
//
// Usage:
//
//	routeguard -i eth2,eth3 [-target IFACE=ADDR ...] [-interval 1s]
//	           [-timeout 1s] [-fail-after 3] [-recover-after 2] [-json]
//	           [-netns /var/run/netns/NAME]
//
// Flags:
//
//	-i LIST            the interfaces to guard, comma-separated, in order of
//	                   preference; their subnet routes (the prefixes of their
//	                   global addresses) are guarded
//	-target IFACE=ADDR probe ADDR out of IFACE for the IP-level verdict
//	                   (repeatable; ipmon's forms IFACE=ADDR/arp and
//	                   IFACE=ADDR/ll are accepted)
//	-interval D        probe interval (default 1s)
//	-timeout D         per-probe timeout (default: the interval)
//	-fail-after N      consecutive misses that declare a target down (3)
//	-recover-after N   consecutive replies that declare it up again (2)
//	-json              one JSON object per line
//	-netns PATH        work inside the network namespace bound at PATH
//
// routeguard prints each steering action. Without -json:
//
//	2026-11-22T05:00:00.123456789Z 198.18.10.0/24 eth3 -> eth2 (link-down)
//
// With -json:
//
//	{"time":"2026-11-22T05:00:00.123456789Z","event":"route","dst":"198.18.10.0/24","interface":"eth2","previous":"eth3","reason":"link-down"}
//
// time is RFC 3339 with nanoseconds (UTC); interface is the interface now
// used for dst, previous the one used before; reason is "link-down",
// "ip-down" or "recovered". On SIGINT or SIGTERM routeguard removes every
// route it installed, puts back the sysctls it changed, and exits 0; it
// exits 1 on an error and 2 on a bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/netpulse/netpulse/internal/probeflags"
)

// options are the parsed command line.
type options struct {
	ifaces []string
	probes *probeflags.Flags
	json   bool
	netns  string

	// ready, if not nil, is closed once routeguard guards (tests).
	ready chan struct{}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("routeguard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.String("i", "", "comma-separated interfaces to guard, in order of preference (required)")
	o.probes = probeflags.Register(fs)
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "work inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.probes.Check(); err != nil {
		return o, err
	}
	for _, n := range strings.Split(*list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.ifaces = append(o.ifaces, n)
		}
	}
	if len(o.ifaces) == 0 {
		return o, errors.New("-i names no interface")
	}
	for _, t := range o.probes.Targets {
		if !slices.Contains(o.ifaces, t.Interface) {
			return o, fmt.Errorf("target %v: interface %q is not guarded (-i)", t, t.Interface)
		}
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "routeguard:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, newOutput(os.Stdout, o.json)); err != nil {
		fmt.Fprintln(os.Stderr, "routeguard:", err)
		os.Exit(1)
	}
}
