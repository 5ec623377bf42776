// Command netwatch prints the links of this machine (or of a named network
// namespace) and then one line per change, using netpulse's linkmon.
//
// Usage:
//
//	netwatch [-i eth2,eth3] [-json] [-netns /var/run/netns/NAME]
//
// Flags:
//
//	-i LIST      watch only these interfaces (comma-separated names); an
//	             unknown interface is an error (exit status 1)
//	-json        print one JSON object per line instead of the table and the
//	             change lines
//	-netns PATH  watch inside the network namespace bound at PATH (as made by
//	             `ip netns add NAME`: /var/run/netns/NAME)
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
// time is RFC 3339 with nanoseconds (UTC), carrier is the carrier as linkmon
// reports it, admin_up the administrative state and oper the kernel's
// operstate in lower case ("up", "down", "lowerlayerdown", "dormant",
// "testing", "notpresent", "unknown"; "notpresent" also marks a link that was
// deleted). netwatch runs until interrupted and exits 0 on SIGINT or
// SIGTERM, 1 on an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// options are the parsed command line.
type options struct {
	ifaces []string
	json   bool
	netns  string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("netwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.String("i", "", "comma-separated interfaces to watch (default: all)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per line")
	fs.StringVar(&o.netns, "netns", "", "watch inside the network namespace bound at `PATH` (e.g. /var/run/netns/NAME)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, n := range strings.Split(*list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.ifaces = append(o.ifaces, n)
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
	return watchLinks(ctx, w, out)
}
