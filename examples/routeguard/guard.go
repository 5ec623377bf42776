package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// output serialises what routeguard prints.
type output struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func newOutput(w io.Writer, json bool) *output { return &output{w: w, json: json} }

// jsonEvent is the JSON form of one steering action.
type jsonEvent struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Dst       string `json:"dst"`
	Interface string `json:"interface"`
	Previous  string `json:"previous"`
	Reason    string `json:"reason"`
}

// steering prints one steering event. With -json only the actions of the
// contract (link-down, ip-down, recovered) are printed; the text form also
// shows routes gone, repairs and the final restore.
func (o *output) steering(ev route.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev.Reason {
	case route.ReasonLinkDown, route.ReasonIPDown, route.ReasonRecovered:
	default:
		if o.json {
			return
		}
	}
	ts := ev.Time.UTC().Format(time.RFC3339Nano)
	if o.json {
		b, _ := json.Marshal(jsonEvent{Time: ts, Event: "route", Dst: ev.Dst.String(),
			Interface: ev.Interface.String(), Previous: ev.Previous.String(), Reason: string(ev.Reason)})
		fmt.Fprintf(o.w, "%s\n", b)
		return
	}
	line := fmt.Sprintf("%s %v %v -> %v (%s)", ts, ev.Dst, name(ev.Previous), name(ev.Interface), ev.Reason)
	if ev.Previous.Index == ev.Interface.Index {
		line = fmt.Sprintf("%s %v %v (%s: %d routes added, %d removed)", ts, ev.Dst, name(ev.Interface), ev.Reason, len(ev.Added), len(ev.Removed))
	}
	if ev.Err != nil {
		line += ": " + ev.Err.Error()
	}
	fmt.Fprintln(o.w, line)
}

func name(i route.Interface) string {
	if s := i.String(); s != "" {
		return s
	}
	return "none"
}

// guardedPrefixes returns the subnets of the global addresses of ifaces.
func guardedPrefixes(ctx context.Context, netns int, ifaces []string) ([]netip.Prefix, error) {
	v, err := route.NewView(ctx, &route.ViewConfig{NetNS: netns})
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
	st, err := route.NewSteerer(ctx, &route.SteererConfig{NetNS: netns, Prefixes: prefixes, Interfaces: o.ifaces})
	if err != nil {
		return err
	}
	defer st.Close()

	lcfg := &linkmon.Config{NetNS: netns}
	for _, n := range o.ifaces {
		lcfg.Interfaces = append(lcfg.Interfaces, linkmon.Interface{Name: n})
	}
	lw, err := linkmon.Open(ctx, lcfg)
	if err != nil {
		return err
	}
	defer lw.Close()

	var poller *ipmon.Poller
	if len(o.targets) > 0 {
		poller, err = ipmon.Open(ctx, &ipmon.Config{NetNS: netns, Interval: o.interval, Timeout: o.timeout,
			FailAfter: o.failAfter, RecoverAfter: o.recoverAfter})
		if err != nil {
			return err
		}
		defer poller.Close()
		for _, t := range o.targets {
			if err := poller.Add(t); err != nil {
				return err
			}
		}
	}

	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev := range lw.Subscribe(sub) {
			s := ev.State
			state := route.StateUnknown
			switch {
			case !s.Present:
			case s.Carrier && s.AdminUp:
				state = route.StateUp
			default:
				state = route.StateDown
			}
			st.SetLinkState(s.Index, state)
		}
	}()
	go func() {
		defer wg.Done()
		for ev := range st.Events() {
			out.steering(ev)
		}
	}()
	if poller != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range poller.Subscribe(sub) {
				if ev.Kind != ipmon.VerdictChanged {
					continue
				}
				idx := indexOf(lw, ev.Interface)
				if idx == 0 {
					continue
				}
				state := route.StateUnknown
				switch ev.Verdict {
				case ipmon.VerdictAlive:
					state = route.StateUp
				case ipmon.VerdictDead:
					state = route.StateDown
				}
				st.SetIPState(idx, state)
			}
		}()
	}
	if o.ready != nil {
		close(o.ready)
	}
	<-ctx.Done()
	cancel()
	// Close restores the table and closes Events, which ends the printer.
	err = st.Close()
	wg.Wait()
	return err
}

func indexOf(w *linkmon.Watcher, name string) int {
	if s, ok := w.Snapshot().Link(name); ok && s.Present {
		return s.Index
	}
	return 0
}
