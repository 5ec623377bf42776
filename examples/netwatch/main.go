// Command netwatch prints the links of this machine (or of a named network
// namespace) and then one line per change, using netpulse's linkmon; with
// probe targets it also prints every change of their state, using ipmon.
//
// Usage:
//
//	netwatch [-i eth2,eth3] [-json] [-netns /var/run/netns/NAME]
//	         [-target IFACE=ADDR ...] [-discover] [-interval 1s] [-timeout 1s]
//	         [-fail-after 3] [-recover-after 2]
//	         [-bfd IFACE=PEER ...] [-bfd-interval 300ms] [-bfd-multiplier 3]
//	         [-bfd-passive]
//
// Flags:
//
//	-i LIST      watch only these interfaces (comma-separated names;
//	             repeatable, the lists add up); an unknown interface is an
//	             error (exit status 1)
//	-json        print one JSON object per line instead of the table and the
//	             change lines
//	-netns PATH  watch inside the network namespace bound at PATH (as made by
//	             `ip netns add NAME`: /var/run/netns/NAME)
//	-target IFACE=ADDR   probe ADDR with ICMP/ICMPv6 echo out of IFACE
//	             (repeatable); IFACE=ADDR/arp sends ARP probes instead (an
//	             interface without an IPv4 address), IFACE=ADDR/ll echo from
//	             IFACE's IPv6 link-local address
//	-discover    also probe the first-hop gateways of the -i interfaces, found
//	             in the routing table (netwatch never probes anything else
//	             that was not named)
//	-interval D  probe interval (default 1s)
//	-timeout D   per-probe timeout (default: the interval)
//	-fail-after N      consecutive misses that declare a target down (default 3)
//	-recover-after N   consecutive replies that declare it up again (default 2)
//	-bfd IFACE=PEER    run a BFD session (RFC 5880/5881, single hop) with PEER
//	             out of IFACE (repeatable); it is a target like the others
//	-bfd-interval D    BFD desired transmit and required receive interval
//	             (default 300ms)
//	-bfd-multiplier N  BFD detect multiplier (default 3)
//	-bfd-passive       BFD passive role: send nothing until the peer is heard
//
// Without -json, netwatch first prints a table of the watched links (name,
// index, carrier, admin state, operstate, speed) and then one line per
// change:
//
//	2026-11-22T05:00:00.123456789Z eth2 carrier down (admin up, oper lowerlayerdown)
//
// With -json every link state, the initial ones included, is one line:
//
//	{"time":"2026-11-22T05:00:00.123456789Z","event":"link","interface":"eth2","index":3,"carrier":false,"admin_up":true,"oper":"lowerlayerdown"}
//
// and every target state change is one line:
//
//	{"time":"2026-11-22T05:00:00.123456789Z","event":"target","interface":"eth2","target":"198.18.10.1","state":"down","rtt_us":412}
//
// where state is "up", "down", "unverified" (the target never answered since
// it was added: it may not answer echo at all) or "unknown" (no verdict yet),
// and rtt_us the last round-trip time in microseconds (0 if none). A target
// is declared down at most fail-after x interval + timeout after it stopped
// answering. Without -json a target change is one line such as
//
//	2026-11-22T05:00:00.123456789Z eth2 target 198.18.10.1 down (3 misses, 0 replies, rtt 0.412 ms)
//
// A BFD session prints, on every change of its session state (the initial
// one included), one line
//
//	{"time":"2026-11-22T05:00:00.123456789Z","event":"bfd","interface":"eth3","peer":"198.18.10.100","state":"down","diag":"control-detection-time-expired","tx_us":300000,"rx_us":300000,"multiplier":3}
//
// where state is "up", "down", "init" or "admin-down"; diag the local
// diagnostic ("none", "control-detection-time-expired", "echo-failed",
// "neighbor-signaled-session-down", "forwarding-plane-reset", "path-down",
// "concatenated-path-down", "admin-down", "reverse-concatenated-path-down");
// tx_us and rx_us the negotiated transmit and receive intervals in
// microseconds (at least 1 s while the session is not up, as RFC 5880
// requires) and multiplier the local detect multiplier. Its target record
// ("event":"target", rtt_us 0) follows the session: "up" while it is up,
// "down" once it left up, "unverified" if it never came up within
// (multiplier + 1) seconds. Without -json a BFD change is one line such as
//
//	2026-11-22T05:00:00.123456789Z eth3 bfd 198.18.10.100 down (diag control-detection-time-expired, tx 300ms, rx 300ms, multiplier 3)
//
// When netwatch exits it sends AdminDown to its BFD peers, so that they
// report a clean shutdown.
//
// time is RFC 3339 with nanoseconds (UTC), carrier is the carrier as linkmon
// reports it, admin_up the administrative state and oper the kernel's
// operstate in lower case ("up", "down", "lowerlayerdown", "dormant",
// "testing", "notpresent", "unknown"; "notpresent" also marks a link that was
// deleted). netwatch runs until interrupted and exits 0 on SIGINT or
// SIGTERM, 1 on an error, 2 on a bad command line (a flag that takes one
// value given twice, an extra argument, a bad value); every non-zero exit
// prints its reason on stderr. When the link watcher's netlink sockets fail
// (it keeps reopening them), each failure and the recovery is one line on
// stderr; standard output is unchanged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/netpulse/netpulse/internal/probeflags"
)

// options are the parsed command line.
type options struct {
	ifaces   []string
	json     bool
	netns    string
	probes   *probeflags.Flags
	discover bool
	bfd      *bfdFlags
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("netwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var((*probeflags.List)(&o.ifaces), "i", "comma-separated interfaces to watch (repeatable; default: all)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "watch inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	o.probes = probeflags.Register(fs)
	fs.BoolVar(&o.discover, "discover", false, "also probe the first-hop gateways of the -i interfaces")
	o.bfd = registerBFD(fs)
	if err := probeflags.Parse(fs, args); err != nil {
		return o, err
	}
	if err := o.bfd.check(); err != nil {
		return o, err
	}
	if err := o.probes.Check(); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.discover && len(o.ifaces) == 0 {
		return o, fmt.Errorf("-discover needs -i: the interfaces whose first hops to probe")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "netwatch:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, newOutput(os.Stdout, o.json)); err != nil {
		fmt.Fprintln(os.Stderr, "netwatch:", err)
		os.Exit(1)
	}
}

// run watches until ctx is done (nil error) or something fails.
func run(ctx context.Context, o options, out *output) error {
	var netns *os.File
	if o.netns != "" {
		f, err := os.Open(o.netns)
		if err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		defer f.Close()
		netns = f
	}
	w, err := openLinks(ctx, o, netns)
	if err != nil {
		return err
	}
	defer w.Close()
	p, err := openProbes(ctx, o, netns)
	if err != nil {
		return err
	}
	if p != nil {
		var wg sync.WaitGroup
		defer wg.Wait() // after Close, which ends the subscription
		defer p.Close()
		wg.Go(func() { watchTargets(ctx, p, out) })
	}
	return watchLinks(ctx, w, out)
}
