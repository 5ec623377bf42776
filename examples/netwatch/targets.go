package main

import (
	"context"
	"fmt"
	"os"

	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/internal/probeflags"
	"github.com/netpulse/netpulse/ipmon"
)

// openProbes opens the poller for the -target flags and, with -discover,
// the first-hop gateways of the watched interfaces. It returns nil when
// there is nothing to probe: netwatch never probes what the user did not ask
// for.
func openProbes(ctx context.Context, o options, netns *os.File) (*ipmon.Poller, error) {
	if o.probes == nil {
		o.probes = &probeflags.Flags{}
	}
	targets := append(o.probes.Targets, o.bfd.targets()...)
	fd := 0
	if netns != nil {
		fd = int(netns.Fd())
	}
	if o.discover {
		for _, ifc := range o.ifaces {
			addrs, err := ipmon.Discover(ctx, fd, ifc)
			if err != nil {
				return nil, fmt.Errorf("discover targets of %s: %w", ifc, err)
			}
			for _, a := range addrs {
				targets = append(targets, ipmon.Target{Addr: a, Interface: ifc})
			}
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	cfg := o.probes.Config(fd)
	p, err := ipmon.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		if err := p.Add(t); err != nil {
			p.Close()
			return nil, fmt.Errorf("target %v: %w", t, err)
		}
	}
	return p, nil
}

// watchTargets prints every target state change until ctx is done.
func watchTargets(ctx context.Context, p *ipmon.Poller, out *output) {
	seen := bfdTracker{}
	for raw := range p.Subscribe(ctx) {
		ev, ok := raw.(*ipmon.TargetEvent)
		if !ok {
			continue
		}
		out.bfd(seen, ev)
		if ev.Target.Kind == ipmon.ProbeBFD && ev.State == ev.Previous && !ev.Initial && !ev.Removed {
			continue // a session state change only (down -> init)
		}
		out.target(ev)
	}
}

func (o *output) target(ev *ipmon.TargetEvent) {
	if o.json {
		o.jw.Write(jsonl.TargetRecord(ev))
		return
	}
	rtt := ""
	if ev.RTT > 0 {
		rtt = fmt.Sprintf(", rtt %.3f ms", float64(ev.RTT.Nanoseconds())/1e6)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%s %s target %s %s (%d misses, %d replies%s)\n",
		jsonl.Stamp(ev.Time), ev.Interface.Name, ev.Target.Addr, ev.State, ev.Misses, ev.Replies, rtt)
}
