package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/linkmon"
)

// output serialises everything netwatch prints: links and probe targets.
type output struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	jw   *jsonl.Writer // the JSON lines, with -json
}

func newOutput(w io.Writer, json bool) *output {
	return &output{w: w, json: json, jw: jsonl.NewWriter(w)}
}

// openLinks opens the link watcher for the options.
func openLinks(ctx context.Context, o options, netns *os.File) (*linkmon.Watcher, error) {
	cfg := &linkmon.Config{Ethtool: true}
	if netns != nil {
		cfg.NetNS = int(netns.Fd())
	}
	for _, n := range o.ifaces {
		cfg.Interfaces = append(cfg.Interfaces, netpulse.Interface{Name: n})
	}
	w, err := linkmon.Open(ctx, cfg)
	if err != nil {
		var lerr *linkmon.Error
		if errors.Is(err, os.ErrNotExist) && errors.As(err, &lerr) && lerr.Interface.Name != "" {
			return nil, fmt.Errorf("unknown interface %q", lerr.Interface.Name)
		}
		return nil, err
	}
	return w, nil
}

// watchLinks prints the watched links, then every change, until ctx is
// done. Without -json the initial states form a table; the ethtool detail
// (speed) may arrive just after, so the table waits briefly for it.
func watchLinks(ctx context.Context, w *linkmon.Watcher, out *output) error {
	events := w.Subscribe(ctx)
	if !out.json {
		time.Sleep(50 * time.Millisecond) // let ethtool detail (speed) land
		out.table(w.Snapshot().Links)
	}
	for x := range events {
		if c, ok := x.(*netpulse.ConditionEvent); ok {
			// The watcher's own trouble: on stderr, leaving the
			// JSON-lines contract on stdout as it is.
			fmt.Fprintln(os.Stderr, "netwatch:", healthLine(c))
			continue
		}
		ev, ok := x.(*linkmon.LinkEvent)
		if !ok {
			continue
		}
		if ev.Initial && !out.json {
			continue // already in the table
		}
		if !ev.Initial && !printable(ev) {
			continue
		}
		out.link(ev)
	}
	return nil
}

// healthLine describes a linkmon condition event.
func healthLine(ev *netpulse.ConditionEvent) string {
	t := jsonl.Stamp(ev.Time)
	if ev.Condition.OK {
		return t + " link watcher: sockets reopened"
	}
	return fmt.Sprintf("%s link watcher failing (reopening with backoff): %v", t, ev.Condition.Err)
}

// printable reports whether an event changes what netwatch prints (events
// that only bring ethtool detail or an MTU change are skipped).
func printable(ev *linkmon.LinkEvent) bool {
	s, p := ev.State, ev.Previous
	return s.Present != p.Present || s.Name != p.Name || s.Index != p.Index || s.Carrier != p.Carrier ||
		s.AdminUp != p.AdminUp || s.Oper != p.Oper || s.Damped != p.Damped
}

// table prints one row per link.
func (o *output) table(links []linkmon.State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINDEX\tCARRIER\tADMIN\tOPER\tSPEED")
	for _, l := range links {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", l.Name, l.Index, onOff(l.Carrier, "up", "down"),
			onOff(l.AdminUp, "up", "down"), l.Oper, speed(l.Detail))
	}
	tw.Flush()
}

// link prints one event.
func (o *output) link(ev *linkmon.LinkEvent) {
	if o.json {
		rec := *ev // events are shared: stamp a copy
		rec.Time = wallTime(ev)
		o.jw.Write(jsonl.LinkRecord(&rec))
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintln(o.w, linkLine(ev))
}

func linkLine(ev *linkmon.LinkEvent) string {
	s, p := ev.State, ev.Previous
	t := jsonl.Stamp(wallTime(ev))
	var what string
	switch {
	case !s.Present:
		what = "removed"
	case !p.Present:
		what = "appeared, carrier " + onOff(s.Carrier, "up", "down")
	case p.Name != s.Name:
		what = "renamed from " + p.Name
	case p.AdminUp != s.AdminUp:
		what = "admin " + onOff(s.AdminUp, "up", "down")
	case p.Carrier != s.Carrier:
		what = "carrier " + onOff(s.Carrier, "up", "down")
		if s.Damped {
			what += " (damped)"
		}
	default:
		what = "changed"
	}
	return fmt.Sprintf("%s %s %s (admin %s, oper %s, index %d)", t, s.Name, what,
		onOff(s.AdminUp, "up", "down"), s.Oper, s.Index)
}

// wallTime is the event's time; initial events carry the time of the last
// change, which is the moment that state began.
func wallTime(ev *linkmon.LinkEvent) time.Time {
	if ev.Time.IsZero() {
		return time.Now()
	}
	return ev.Time
}

func onOff(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func speed(d linkmon.Detail) string {
	if d.SpeedMbps == 0 {
		return "-"
	}
	if d.SpeedMbps%1000 == 0 {
		return strconv.Itoa(d.SpeedMbps/1000) + "Gb/s"
	}
	return strconv.Itoa(d.SpeedMbps) + "Mb/s"
}
