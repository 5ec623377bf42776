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
//	                   global addresses) are guarded (repeatable: each -i
//	                   adds to the list; a name given twice is refused)
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
// "ip-down" or "recovered". Flags other than -i and -target take one value:
// a repeated one is refused.
//
// When the Steerer fails to change a route, or its view of the kernel
// fails, routeguard writes "TIME steering failing: ERROR" to stderr (and
// "TIME steering working" once it works again) and keeps trying. When the
// link watcher's netlink sockets fail (it keeps reopening them, and sees no
// carrier change meanwhile), it writes "TIME link watcher failing
// (reopening with backoff): ERROR" to stderr, and "TIME link watcher:
// sockets reopened" once they work again.
//
// Exit status, and what is left in the kernel. Every non-zero exit prints
// "routeguard: ERROR" on stderr.
//
//	0  SIGINT or SIGTERM: every route routeguard installed is removed and the
//	   sysctls it changed are put back.
//	1  routeguard cannot do its job:
//	   - at start: an unknown interface, no subnet to guard, a namespace
//	     that cannot be opened, or no CAP_NET_ADMIN (the error names it;
//	     checked at start even when the ignore_routes_with_linkdown
//	     sysctls are already set): nothing was changed;
//	   - while running: a route change refused for want of CAP_NET_ADMIN,
//	     or the output closed (a reader such as "head -c 1" gone: the write
//	     fails with EPIPE, routeguard does not die of SIGPIPE): the table
//	     is restored first, as on SIGTERM.
//	2  a bad command line: a bad flag or value (the flag package's message
//	   and the usage), a flag that takes one value given twice, an extra
//	   argument.
//
// Killed by SIGKILL, routeguard leaves its routes and sysctls; the next
// routeguard (or route.Steerer of the same protocol) started in the
// namespace removes them, from the marks it left in the kernel.
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
	"syscall"

	"github.com/netpulse/netpulse"
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
	// onIP, if not nil, sees every ipmon event (tests: the failure
	// sequences start once the paths are verified).
	onIP func(netpulse.Event)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("routeguard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var((*probeflags.List)(&o.ifaces), "i", "comma-separated interfaces to guard, in order of preference (required; repeatable, adding to the list)")
	o.probes = probeflags.Register(fs)
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "work inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	// A flag that takes one value refuses a second one: silently keeping
	// the last (-interval 1s -interval 10ms) hides a mistake.
	if err := probeflags.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.probes.Check(); err != nil {
		return o, err
	}
	if len(o.ifaces) == 0 {
		return o, errors.New("-i names no interface")
	}
	for i, n := range o.ifaces {
		if slices.Contains(o.ifaces[:i], n) {
			return o, fmt.Errorf("-i: interface %q named twice", n)
		}
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
	// A closed output (routeguard -json | head -c 1) must end routeguard
	// through its cleanup, not kill it by SIGPIPE with the sysctls set
	// and routes installed: with SIGPIPE ignored the write fails with
	// EPIPE and run restores the table before it returns the error.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := newOutput(os.Stdout, o.json)
	out.diag = os.Stderr
	if err := run(ctx, o, out); err != nil {
		fmt.Fprintln(os.Stderr, "routeguard:", err)
		os.Exit(1)
	}
}
