package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/jsonl"
)

// output prints events as text lines or JSON objects, one per line.
type output struct {
	mu   sync.Mutex
	w    io.Writer // events (and the status table without -json)
	errw io.Writer // other messages
	json bool
	jw   *jsonl.Writer // the JSON lines, with -json
}

func newOutput(w, errw io.Writer, json bool) *output {
	return &output{w: w, errw: errw, json: json, jw: jsonl.NewWriter(w)}
}

// stamp formats t as every record's time: RFC 3339 UTC with nanoseconds.
func stamp(t time.Time) string { return jsonl.Stamp(t) }

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// event prints one engine event.
func (o *output) event(ev netpulse.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev := ev.(type) {
	case *failover.HealthEvent:
		if o.json {
			o.jw.Write(jsonl.HealthRecord(ev))
			return
		}
		fmt.Fprintf(o.w, "%s %s health %s -> %s (failure %s, reason %s)\n", stamp(ev.Time), ev.Interface.Name, ev.From, ev.To, ev.Failure, ev.Reason)
	case *failover.SwitchEvent:
		if ev.Reason == netpulse.ReasonInitial {
			fmt.Fprintf(o.errw, "%s placed %s on %s\n", stamp(ev.Time), joinPrefixes(ev.Addresses), ev.To.Name)
			return
		}
		if o.json {
			for _, r := range jsonl.SwitchRecords(ev) {
				o.jw.Write(r)
			}
			return
		}
		after := ""
		if ev.Latency > 0 {
			after = fmt.Sprintf(", %v after the evidence", ev.Latency.Round(time.Microsecond))
		}
		fmt.Fprintf(o.w, "%s switch %s %s -> %s (reason %s%s)\n", stamp(ev.Time), joinPrefixes(ev.Addresses), ev.From.Name, ev.To.Name, ev.Reason, after)
	case *failover.GroupEvent:
		w := o.w
		if o.json {
			w = o.errw
		}
		if ev.SubnetDown {
			fmt.Fprintf(w, "%s group %s subnet-down: no member is up; the addresses stay where they are\n", stamp(ev.Time), ev.Group)
		} else {
			fmt.Fprintf(w, "%s group %s up again\n", stamp(ev.Time), ev.Group)
		}
	case *failover.ActionErrorEvent:
		what := ev.Op + " on " + ev.Interface.Name
		if ev.Address.IsValid() {
			what = ev.Op + " " + ev.Address.String() + " on " + ev.Interface.Name
		}
		retry := ""
		if ev.RetryIn > 0 {
			retry = fmt.Sprintf("; retry in %v", ev.RetryIn)
		}
		if ev.Permanent {
			retry = " (permanent)"
		}
		fmt.Fprintf(o.errw, "%s %s failed: %v%s\n", stamp(ev.Time), what, ev.Err, retry)
	case *failover.RepairEvent:
		var missing []string
		if len(ev.Missing.Addresses) > 0 {
			missing = append(missing, joinPrefixes(ev.Missing.Addresses))
		}
		if ev.Missing.ReturnPath {
			missing = append(missing, "return path")
		}
		res := "put back"
		if ev.Err != nil {
			res = fmt.Sprintf("repair failed: %v", ev.Err)
		}
		fmt.Fprintf(o.errw, "%s %s missing on %s (removed behind failoverd's back): %s\n", stamp(ev.Time), strings.Join(missing, " and "), ev.Interface.Name, res)
	}
}

// note prints a message to standard error.
func (o *output) note(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.errw, "failoverd: %s\n", msg)
}

// status prints the status table (to standard error under -json, so that
// standard output stays JSON lines).
func (o *output) status(st failover.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.w
	if o.json {
		w = o.errw
	}
	fmt.Fprint(w, st.String())
}

// leaving says where the addresses are left on exit.
func (o *output) leaving(st failover.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, g := range st.Groups {
		if g.Active == "" {
			fmt.Fprintf(o.errw, "failoverd: exiting; %s were not placed by failoverd, left as they are\n", joinPrefixes(g.Addresses))
			continue
		}
		fmt.Fprintf(o.errw, "failoverd: exiting; leaving %s on %s\n", joinPrefixes(g.Addresses), g.Active)
	}
}
