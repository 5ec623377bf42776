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
// behaved as expected, 1 otherwise (and without root).
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

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/jsonl"
)

type options struct {
	json bool
	step int
}

func parseFlags(args []string, errw io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.BoolVar(&o.json, "json", false, "print the timeline as JSON lines")
	fs.IntVar(&o.step, "step", 0, "run only this step (1-5)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.step < 0 || o.step > len(steps) {
		return o, fmt.Errorf("-step %d: there are steps 1 to %d", o.step, len(steps))
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "lab: this demonstration builds its own network namespaces and needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW): run it with sudo.")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
	}
	if !ok || err != nil {
		os.Exit(1)
	}
}

// run builds the lab, runs the steps and removes the lab. It reports whether
// every step behaved as expected.
func run(ctx context.Context, o options, w io.Writer) (allOK bool, err error) {
	start := time.Now()
	out := newOutput(w, o.json)
	topo, err := buildTopology()
	if err != nil {
		return false, fmt.Errorf("building the lab: %w", err)
	}
	defer func() {
		if cerr := topo.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("removing the lab: %w", cerr)
		}
	}()
	out.printf("lab %s built in %.1f ms: node (eth3 primary, eth2 standby) -- switch -- server, router, peer\n",
		topo.lab.Name(), ms(time.Since(start)))

	rec := newRecorder(out)
	a, err := startApp(ctx, topo, rec)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := a.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	s := &session{ctx: ctx, topo: topo, app: a, rec: rec, out: out}
	if err := s.settle(10 * time.Second); err != nil {
		return false, fmt.Errorf("starting netpulse: %w", err)
	}
	out.printf("netpulse running: address %v on eth3, both IP paths alive (%.1f ms since start)\n\n", service4, ms(time.Since(start)))

	var results []*stepResult
	for i, st := range steps {
		if o.step != 0 && o.step != i+1 {
			continue
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		r := &stepResult{N: i + 1, Name: st.name}
		out.setZero(time.Time{})
		out.printf("step %d: %s\n", r.N, r.Name)
		st.run(s, r)
		if err := s.settle(10 * time.Second); err != nil {
			r.problem("%v", err)
		}
		out.setZero(time.Time{})
		s.printStep(r)
		out.printf("\n")
		results = append(results, r)
	}

	status := a.engine.Snapshot()
	allOK = true
	failed := 0
	for _, r := range results {
		if !r.OK() {
			allOK = false
			failed++
		}
	}
	elapsed := time.Since(start)
	if o.json {
		out.json.Write(struct {
			Time    string          `json:"time"`
			Event   string          `json:"event"`
			OK      bool            `json:"ok"`
			Steps   int             `json:"steps"`
			Failed  int             `json:"failed"`
			Seconds float64         `json:"seconds"`
			Status  failover.Status `json:"status"`
		}{jsonl.Stamp(time.Now()), "summary", allOK, len(results), failed, elapsed.Seconds(), status})
		return allOK, nil
	}
	out.printf("%s\n", status.String())
	out.printf("summary (ms from the fault, or from its repair, to what netpulse did):\n")
	for _, r := range results {
		verdict := "ok"
		if !r.OK() {
			verdict = "FAILED"
		}
		out.printf("  %d %-6s %s\n", r.N, verdict, r.Name)
		for _, m := range r.Measures {
			out.printf("           %9.1f  %s\n", m.MS, m.What)
		}
	}
	out.printf("%d of %d steps ok in %.1f s\n", len(results)-failed, len(results), elapsed.Seconds())
	return allOK, nil
}
