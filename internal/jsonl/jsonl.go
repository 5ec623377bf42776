// Package jsonl holds the JSON-lines records the example programs print.
// Their field names and values are a contract that users script against:
// every example prints the same object for the same kind of event.
//
//	{"time": T, "event": "link", "interface": name, "index": n, "carrier": bool, "admin_up": bool, "oper": operstate}
//	{"time": T, "event": "target", "interface": name, "target": address, "state": "up"|"down"|"unverified"|"unknown", "rtt_us": n}
//	{"time": T, "event": "route", "dst": prefix, "interface": name, "previous": name, "reason": "link-down"|"ip-down"|"recovered"}
//	{"time": T, "event": "health", "interface": name, "state": "up"|"link-down"|"ip-down"|"disabled"|"unknown", "failure": "none"|"link+ip"|"ip_only"}
//	{"time": T, "event": "switch", "address": prefix, "from": name, "to": name, "reason": "link-down"|"ip-down"|"failback"|"manual"}
//
// T is RFC 3339 in UTC with nanoseconds. Events outside these values (a
// Steerer's reconciliations and restores, a failover engine's initial
// placement) have no record: the programs print them as text only.
package jsonl

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// TimeLayout is the layout of every record's "time": RFC 3339, UTC, with
// nanoseconds (always nine digits).
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Stamp formats t for a record.
func Stamp(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Link is a link state record ("event": "link").
type Link struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Interface string `json:"interface"`
	Index     int    `json:"index"`
	Carrier   bool   `json:"carrier"`
	AdminUp   bool   `json:"admin_up"`
	Oper      string `json:"oper"`
}

// LinkRecord returns the record of a linkmon event.
func LinkRecord(ev *linkmon.LinkEvent) Link {
	s := ev.State
	return Link{Stamp(ev.Time), "link", s.Name, s.Index, s.Carrier, s.AdminUp, s.Oper.String()}
}

// Target is a target state record ("event": "target").
type Target struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Interface string `json:"interface"`
	Target    string `json:"target"`
	State     string `json:"state"`
	RTTMicros int64  `json:"rtt_us"`
}

// TargetRecord returns the record of an ipmon target event.
func TargetRecord(ev *ipmon.TargetEvent) Target {
	return Target{Stamp(ev.Time), "target", ev.Interface.Name, ev.Target.Addr.String(), ev.State.String(), ev.RTT.Microseconds()}
}

// Route is a steering record ("event": "route").
type Route struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Dst       string `json:"dst"`
	Interface string `json:"interface"`
	Previous  string `json:"previous"`
	Reason    string `json:"reason"`
}

// RouteRecord returns the record of a route.Steerer event, and false for an
// event that is not a steering action of the contract (reasons other than
// link-down, ip-down and recovered, and a subscription's initial state).
func RouteRecord(ev *route.SteerEvent) (Route, bool) {
	if ev.Initial {
		return Route{}, false
	}
	switch ev.Reason {
	case netpulse.ReasonLinkDown, netpulse.ReasonIPDown, netpulse.ReasonRecovered:
	default:
		return Route{}, false
	}
	return Route{Stamp(ev.Time), "route", ev.Dst.String(), ev.Interface.Name, ev.Previous.Name, ev.Reason.String()}, true
}

// Health is an interface health record ("event": "health").
type Health struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Interface string `json:"interface"`
	State     string `json:"state"`
	Failure   string `json:"failure"`
}

// HealthRecord returns the record of a failover health event.
func HealthRecord(ev *failover.HealthEvent) Health {
	return Health{Stamp(ev.Time), "health", ev.Interface.Name, ev.To.String(), ev.Failure.String()}
}

// Switch is an address move record ("event": "switch").
type Switch struct {
	Time    string `json:"time"`
	Event   string `json:"event"`
	Address string `json:"address"`
	From    string `json:"from"`
	To      string `json:"to"`
	Reason  string `json:"reason"`
}

// SwitchRecords returns one record per address a failover switch moved;
// none for the initial placement of the addresses, which is no move.
func SwitchRecords(ev *failover.SwitchEvent) []Switch {
	if ev.Reason == netpulse.ReasonInitial {
		return nil
	}
	out := make([]Switch, 0, len(ev.Addresses))
	for _, a := range ev.Addresses {
		out = append(out, Switch{Stamp(ev.Time), "switch", a.String(), ev.From.Name, ev.To.Name, ev.Reason.String()})
	}
	return out
}

// A Writer writes records as JSON lines. It is safe for concurrent use; each
// record is written with one Write call.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes v as one JSON line.
func (w *Writer) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.w.Write(b)
	return err
}
