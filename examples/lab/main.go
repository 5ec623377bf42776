//go:build linux

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
	"github.com/netpulse/netpulse/internal/probeflags"
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
	if err := probeflags.Parse(fs, args); err != nil {
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
