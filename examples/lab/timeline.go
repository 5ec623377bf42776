//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// A record is one event of the node's netpulse: exactly one field is set.
type record struct {
	at    time.Time
	link  *linkmon.LinkEvent
	ip    netpulse.Event // from ipmon
	route *route.SteerEvent
	// steering is a change of the Steerer's own condition
	// (*netpulse.ConditionEvent) or a *netpulse.DropEvent.
	steering netpulse.Event
	fo       netpulse.Event
}

// recorder keeps every event in order, prints it, and lets a step wait for
// the event it expects.
type recorder struct {
	out *output

	mu     sync.Mutex
	recs   []record
	notify chan struct{} // closed and replaced by every add
}

func newRecorder(out *output) *recorder { return &recorder{out: out, notify: make(chan struct{})} }

func (r *recorder) add(rec record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
	r.out.event(rec)
}

// mark returns the position from which a later wait looks.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

// wait returns the first record from position from on that satisfies pred,
// waiting up to timeout for it.
func (r *recorder) wait(ctx context.Context, from int, timeout time.Duration, pred func(record) bool) (record, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		r.mu.Lock()
		for ; from < len(r.recs); from++ {
			if pred(r.recs[from]) {
				rec := r.recs[from]
				r.mu.Unlock()
				return rec, true
			}
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return record{}, false
		}
	}
}

// any reports whether a record from position from on satisfies pred.
func (r *recorder) any(from int, pred func(record) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs[min(from, len(r.recs)):] {
		if pred(rec) {
			return true
		}
	}
	return false
}

// Predicates on records.

func isLink(name string, carrier bool) func(record) bool {
	return func(r record) bool {
		return r.link != nil && !r.link.Initial && r.link.State.Name == name && r.link.State.Carrier == carrier
	}
}

func isDamped(name string, damped bool) func(record) bool {
	return func(r record) bool {
		return r.link != nil && !r.link.Initial && r.link.State.Name == name && r.link.State.Damped == damped &&
			r.link.Previous.Damped != damped
	}
}

func isVerdict(name string, v netpulse.Verdict) func(record) bool {
	return func(r record) bool {
		ev, ok := r.ip.(*ipmon.VerdictEvent)
		return ok && ev.Interface.Name == name && ev.Verdict == v
	}
}

func isRoute(to string, reason netpulse.Reason) func(record) bool {
	return func(r record) bool {
		return r.route != nil && r.route.Interface.Name == to && r.route.Reason == reason
	}
}

func isHealth(name string, h netpulse.Health) func(record) bool {
	return func(r record) bool {
		ev, ok := r.fo.(*failover.HealthEvent)
		return ok && ev.Interface.Name == name && ev.To == h
	}
}

func isSwitch(to string, reason netpulse.Reason) func(record) bool {
	return func(r record) bool {
		ev, ok := r.fo.(*failover.SwitchEvent)
		return ok && ev.To.Name == to && ev.Reason == reason
	}
}

func isAnySwitch(r record) bool { _, ok := r.fo.(*failover.SwitchEvent); return ok }

func isSubnetDown(down bool) func(record) bool {
	return func(r record) bool {
		ev, ok := r.fo.(*failover.GroupEvent)
		return ok && ev.SubnetDown == down
	}
}

// output prints the timeline: text lines, or JSON lines with the same
// records as the other examples (internal/jsonl) plus "step" and
// "summary" records of its own.
type output struct {
	w    io.Writer
	json *jsonl.Writer // nil: text

	mu   sync.Mutex
	zero time.Time // event times are printed relative to the current fault
}

func newOutput(w io.Writer, json bool) *output {
	o := &output{w: w}
	if json {
		o.json = jsonl.NewWriter(w)
	}
	return o
}

func (o *output) setZero(t time.Time) {
	o.mu.Lock()
	o.zero = t
	o.mu.Unlock()
}

func (o *output) printf(format string, args ...any) {
	if o.json != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format, args...)
}

func (o *output) event(r record) {
	if o.json != nil {
		o.jsonEvent(r)
		return
	}
	var what string
	switch {
	case r.link != nil:
		s := r.link.State
		if r.link.Initial {
			return
		}
		what = fmt.Sprintf("link    %s carrier=%t admin_up=%t oper=%s", s.Name, s.Carrier, s.AdminUp, s.Oper)
		if s.Damped {
			what += fmt.Sprintf(" damped (penalty %.0f)", s.Penalty)
		}
	case r.ip != nil:
		switch ev := r.ip.(type) {
		case *ipmon.VerdictEvent:
			if ev.Initial {
				return
			}
			what = fmt.Sprintf("ip      %s path %s", ev.Interface.Name, ev.Verdict)
		case *ipmon.TargetEvent:
			if ev.Initial {
				return
			}
			what = fmt.Sprintf("target  %s via %s %s", ev.Target.Addr, ev.Interface.Name, ev.State)
		}
	case r.steering != nil:
		switch ev := r.steering.(type) {
		case *netpulse.ConditionEvent:
			if ev.Reason == netpulse.ReasonFailing {
				what = fmt.Sprintf("route   steering failing: %v", ev.Condition.Err)
			} else {
				what = "route   steering works again"
			}
		case *netpulse.DropEvent:
			what = fmt.Sprintf("route   %d steering events dropped", ev.Count)
		}
	case r.route != nil:
		what = fmt.Sprintf("route   %s now via %s (was %s): %s", r.route.Dst, name(r.route.Interface.Name), name(r.route.Previous.Name), r.route.Reason)
	case r.fo != nil:
		switch ev := r.fo.(type) {
		case *failover.HealthEvent:
			what = fmt.Sprintf("health  %s %s -> %s (failure %s)", ev.Interface.Name, ev.From, ev.To, ev.Failure)
		case *failover.SwitchEvent:
			what = fmt.Sprintf("switch  %s %s -> %s: %s", joinPrefixes(ev), name(ev.From.Name), ev.To.Name, ev.Reason)
		case *failover.GroupEvent:
			if ev.SubnetDown {
				what = fmt.Sprintf("group   %s subnet-down: no member up, the address stays where it is", ev.Group)
			} else {
				what = fmt.Sprintf("group   %s has a healthy member again", ev.Group)
			}
		case *failover.ActionErrorEvent:
			what = fmt.Sprintf("error   %s on %s: %v (attempt %d)", ev.Op, ev.Interface.Name, ev.Err, ev.Attempt)
		}
	}
	if what == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.zero.IsZero() {
		fmt.Fprintf(o.w, "             %s\n", what)
		return
	}
	fmt.Fprintf(o.w, "  %+9.2f ms  %s\n", ms(r.at.Sub(o.zero)), what)
}

func (o *output) jsonEvent(r record) {
	switch {
	case r.link != nil:
		o.json.Write(jsonl.LinkRecord(r.link))
	case r.ip != nil:
		if ev, ok := r.ip.(*ipmon.TargetEvent); ok {
			o.json.Write(jsonl.TargetRecord(ev))
		}
	case r.route != nil:
		if rec, ok := jsonl.RouteRecord(r.route); ok {
			o.json.Write(rec)
		}
	case r.fo != nil:
		switch ev := r.fo.(type) {
		case *failover.HealthEvent:
			o.json.Write(jsonl.HealthRecord(ev))
		case *failover.SwitchEvent:
			for _, s := range jsonl.SwitchRecords(ev) {
				o.json.Write(s)
			}
		}
	}
}

func name(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinPrefixes(ev *failover.SwitchEvent) string {
	s := make([]string, len(ev.Addresses))
	for i, p := range ev.Addresses {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
