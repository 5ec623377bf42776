package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// output serialises what routeguard prints.
type output struct {
	mu   sync.Mutex
	w    io.Writer
	diag io.Writer     // diagnostics (the Steerer's health): stderr
	json *jsonl.Writer // nil: text
}

func newOutput(w io.Writer, json bool) *output {
	o := &output{w: w, diag: io.Discard}
	if json {
		o.json = jsonl.NewWriter(w)
	}
	return o
}

// steering prints one steering event and returns the output's error (a
// closed pipe: EPIPE). With -json only the actions of the contract
// (link-down, ip-down, recovered) are printed; the text form also shows
// routes gone, repairs and the final restore. A change of the Steerer's
// own health (failing, working) goes to diag in both forms: it is no
// steering action.
func (o *output) steering(e netpulse.Event) error {
	ev, ok := e.(*route.SteerEvent)
	if ok && ev.Initial {
		return nil // the state at Subscribe: no steering action
	}
	if !ok {
		var line string
		switch e := e.(type) {
		case *netpulse.ConditionEvent:
			line = fmt.Sprintf("%s steering %s", jsonl.Stamp(e.Time), e.Reason)
			if e.Condition.Err != nil {
				line += ": " + e.Condition.Err.Error()
			}
		case *netpulse.DropEvent:
			line = fmt.Sprintf("%s steering events dropped: %d", jsonl.Stamp(e.Time), e.Count)
		default:
			return nil
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		fmt.Fprintln(o.diag, line)
		return nil
	}
	if o.json != nil {
		if rec, ok := jsonl.RouteRecord(ev); ok {
			return o.json.Write(rec)
		}
		return nil
	}
	ts := jsonl.Stamp(ev.Time)
	line := fmt.Sprintf("%s %v %v -> %v (%s)", ts, ev.Dst, name(ev.Previous), name(ev.Interface), ev.Reason)
	if ev.Previous.Index == ev.Interface.Index {
		line = fmt.Sprintf("%s %v %v (%s: %d routes added, %d removed)", ts, ev.Dst, name(ev.Interface), ev.Reason, len(ev.Added), len(ev.Removed))
	}
	if ev.Err != nil {
		line += ": " + ev.Err.Error()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := fmt.Fprintln(o.w, line)
	return err
}

// linkHealth prints a health event of the link watcher (its sockets
// failed, a reopen failed, or they were reopened) to diag in both forms:
// while it fails, routeguard sees no carrier change, and says so.
func (o *output) linkHealth(ev *netpulse.ConditionEvent) {
	line := jsonl.Stamp(ev.Time) + " link watcher: sockets reopened"
	if !ev.Condition.OK {
		line = fmt.Sprintf("%s link watcher failing (reopening with backoff): %v", jsonl.Stamp(ev.Time), ev.Condition.Err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintln(o.diag, line)
}

func name(i netpulse.Interface) string {
	if s := i.String(); s != "" {
		return s
	}
	return "none"
}

// guardedPrefixes returns the subnets of the global addresses of ifaces.
func guardedPrefixes(ctx context.Context, netns int, ifaces []string) ([]netip.Prefix, error) {
	v, err := route.OpenView(ctx, &route.ViewConfig{NetNS: netns})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var out []netip.Prefix
	for _, n := range ifaces {
		var l route.Link
		for _, x := range v.Links() {
			if x.Name == n {
				l = x
			}
		}
		if l.Index == 0 {
			return nil, fmt.Errorf("unknown interface %q", n)
		}
		for _, a := range v.Addresses(l.Index) {
			p := a.Prefix.Masked()
			if a.Prefix.Addr().IsLinkLocalUnicast() || p.Bits() == p.Addr().BitLen() || slices.Contains(out, p) {
				continue
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("interfaces %v have no subnet to guard (no global address)", ifaces)
	}
	return out, nil
}

// run guards until ctx is done (nil error: the table is restored) or
// something fails.
func run(ctx context.Context, o options, out *output) error {
	netns := 0
	if o.netns != "" {
		f, err := os.Open(o.netns)
		if err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		defer f.Close()
		netns = int(f.Fd())
	}
	prefixes, err := guardedPrefixes(ctx, netns, o.ifaces)
	if err != nil {
		return err
	}
	st, err := route.OpenSteerer(ctx, &route.SteererConfig{NetNS: netns, Prefixes: prefixes, Interfaces: o.ifaces})
	if err != nil {
		return err
	}
	defer st.Close()
	steered := st.Subscribe(context.Background()) // ended by st.Close

	lcfg := &linkmon.Config{NetNS: netns}
	for _, n := range o.ifaces {
		lcfg.Interfaces = append(lcfg.Interfaces, netpulse.Interface{Name: n})
	}
	lw, err := linkmon.Open(ctx, lcfg)
	if err != nil {
		return err
	}
	defer lw.Close()

	var poller *ipmon.Poller
	if len(o.probes.Targets) > 0 {
		poller, err = ipmon.Open(ctx, o.probes.Config(netns))
		if err != nil {
			return err
		}
		defer poller.Close()
		for _, t := range o.probes.Targets {
			if err := poller.Add(t); err != nil {
				return err
			}
		}
	}
	// The run ends on ctx (a signal), or on the first failure that leaves
	// routeguard unable to do its job: the output closed (a reader such
	// as "head -c 1" gone: EPIPE, since SIGPIPE is ignored) or steering
	// refused for want of CAP_NET_ADMIN. Either way the table is restored
	// before run returns.
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	var failOnce sync.Once
	var failure error
	fail := func(err error) {
		failOnce.Do(func() {
			failure = err
			cancel()
		})
	}
	hcfg := &health.Config{Links: lw, Interfaces: o.ifaces}
	if poller != nil {
		hcfg.Probes = poller
	}
	mon, err := health.New(ctx, hcfg)
	if err != nil {
		return err
	}
	defer mon.Close()
	if err := mon.Feed(ctx, st); err != nil {
		return err
	}
	links := lw.Subscribe(sub)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range links {
			if c, ok := ev.(*netpulse.ConditionEvent); ok {
				out.linkHealth(c)
			}
		}
	})
	if poller != nil && o.onIP != nil {
		tee := poller.Subscribe(sub)
		wg.Go(func() {
			for ev := range tee {
				o.onIP(ev)
			}
		})
	}
	wg.Go(func() {
		for ev := range steered {
			if c, ok := ev.(*netpulse.ConditionEvent); ok && c.Reason == netpulse.ReasonFailing && errors.Is(c.Condition.Err, os.ErrPermission) {
				fail(fmt.Errorf("steering refused (routeguard needs CAP_NET_ADMIN): %w", c.Condition.Err))
			}
			if err := out.steering(ev); err != nil {
				fail(fmt.Errorf("output: %w", err))
			}
		}
	})
	if o.ready != nil {
		close(o.ready)
	}
	<-sub.Done()
	cancel()
	mon.Close() // nothing feeds the Steerer any more
	// Close restores the table and ends the subscription, which ends the printer.
	err = st.Close()
	wg.Wait()
	return errors.Join(failure, err)
}
