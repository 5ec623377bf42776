package health

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/netpulse/netpulse"
)

// core is the Monitor's bookkeeping: the evidence of every interface, keyed
// by name, and the condition of the sources. It has no goroutines and no
// locks (the Monitor holds its lock around every call), so the rules are
// tested by feeding inputs.
//
// The rules, from the interface's name (authoritative):
//   - a link observation sets the name's index and link state; a deleted
//     link, or one renamed away from the name, leaves the name with Index 0
//     and its link down (the interface is gone), unless another link holds
//     the name by then;
//   - a verdict is kept per name, whatever link holds the name, so that a
//     link re-created under the name, or renamed to it, gets the name's last
//     verdict (the IP source reports no change when its verdict does not
//     change);
//   - with a link source, a name appears (in events and snapshots) once a
//     link observation about it arrived; a verdict that comes first is held
//     until then. Without one, a name appears with its first verdict, with
//     the index the IP source resolved (ipmon's, in its namespace) and its
//     link unknown.
type core struct {
	links bool            // a link source is configured
	only  map[string]bool // nil: every name
	names map[string]*entry

	src  [2]source
	cond netpulse.Condition
}

// Sources, as indexes of core.src.
const (
	linkSource = iota
	ipSource
)

type source struct {
	used bool
	name string
	cond netpulse.Condition
}

type entry struct {
	ev   netpulse.Evidence // current evidence, published once seen
	seen bool
}

func newCore(links, ips bool, only []string) *core {
	c := &core{links: links, names: make(map[string]*entry)}
	if only != nil {
		c.only = make(map[string]bool, len(only))
		for _, n := range only {
			c.only[n] = true
		}
	}
	c.src[linkSource] = source{used: links, name: "link", cond: netpulse.Condition{OK: true}}
	c.src[ipSource] = source{used: ips, name: "IP", cond: netpulse.Condition{OK: true}}
	c.cond.OK = true
	return c
}

func (c *core) watched(name string) bool {
	return name != "" && (c.only == nil || c.only[name])
}

// link applies a link observation; it appends the events it caused to out
// and returns the result (at most two events: the old name of a renamed
// link, and the name it has now).
func (c *core) link(in linkInput, out []*EvidenceEvent) []*EvidenceEvent {
	if p := in.Previous; p.Name != in.Interface.Name && p.Index != 0 && c.watched(p.Name) {
		if e := c.names[p.Name]; e != nil && e.ev.Interface.Index == p.Index {
			out = c.add(out, c.update(p.Name, in.Time, true, gone))
		}
	}
	name := in.Interface.Name
	if !c.watched(name) {
		return out
	}
	if in.Present {
		st := in.state()
		return c.add(out, c.update(name, in.Time, true, func(ev *netpulse.Evidence) {
			ev.Interface.Index = in.Interface.Index
			ev.Link = st
		}))
	}
	e := c.names[name]
	if e == nil && c.only == nil {
		// Nothing known of the name: a link that never held it went away
		// (linkmon reports a link renamed away from its selection under
		// its new name, not present).
		return out
	}
	if e != nil && e.ev.Interface.Index != 0 && e.ev.Interface.Index != in.Interface.Index {
		return out // a link that no longer holds the name went away
	}
	return c.add(out, c.update(name, in.Time, true, gone))
}

func gone(ev *netpulse.Evidence) {
	ev.Interface.Index = 0
	ev.Link = netpulse.StateDown
}

// ip applies a verdict; it returns the event it caused, or nil.
func (c *core) ip(in ipInput) *EvidenceEvent {
	if !c.watched(in.Interface) {
		return nil
	}
	return c.update(in.Interface, in.Time, !c.links, func(ev *netpulse.Evidence) {
		ev.IP = in.Verdict
		if !c.links {
			ev.Interface.Index = in.Index
		}
	})
}

func (c *core) add(out []*EvidenceEvent, ev *EvidenceEvent) []*EvidenceEvent {
	if ev != nil {
		out = append(out, ev)
	}
	return out
}

// update changes the evidence of name with f; see makes the name appear. It
// returns the event of the change, or nil when nothing visible changed.
func (c *core) update(name string, t time.Time, see bool, f func(*netpulse.Evidence)) *EvidenceEvent {
	e := c.names[name]
	if e == nil {
		e = &entry{ev: netpulse.Evidence{Interface: netpulse.Interface{Name: name}}}
		c.names[name] = e
	}
	prev, shown := e.ev, e.seen
	f(&e.ev)
	e.seen = e.seen || see
	var ev *EvidenceEvent
	if e.seen && (!shown || !sameState(prev, e.ev)) {
		e.ev.Time = t
		ev = &EvidenceEvent{Time: t, Evidence: e.ev}
		if shown {
			ev.Previous = prev
		}
	}
	// Forget a gone interface that has nothing to remember (no verdict) and
	// was not asked for by name: deleted links must not pile up.
	if c.only == nil && e.ev.Interface.Index == 0 && e.ev.IP == netpulse.VerdictUnknown &&
		(e.ev.Link == netpulse.StateDown || !e.seen) {
		delete(c.names, name)
	}
	return ev
}

func sameState(a, b netpulse.Evidence) bool {
	return a.Interface == b.Interface && a.Link == b.Link && a.IP == b.IP
}

// snapshot returns the evidence of every interface that appeared, by name.
func (c *core) snapshot() []netpulse.Evidence {
	out := make([]netpulse.Evidence, 0, len(c.names))
	for _, e := range c.names {
		if e.seen {
			out = append(out, e.ev)
		}
	}
	slices.SortFunc(out, func(a, b netpulse.Evidence) int { return cmp.Compare(a.Interface.Name, b.Interface.Name) })
	return out
}

// source records the condition of source i; it returns the event of the
// Monitor's own condition change, or nil. The Monitor is OK while every
// source is.
func (c *core) source(i int, cond netpulse.Condition, t time.Time) *netpulse.ConditionEvent {
	s := &c.src[i]
	if s.cond.OK == cond.OK && s.cond.Err == cond.Err {
		return nil
	}
	s.cond = cond
	next := netpulse.Condition{OK: true, Since: c.cond.Since}
	var errs []error
	for _, s := range c.src {
		if s.used && !s.cond.OK {
			next.OK = false
			err := s.cond.Err
			if err == nil {
				err = errors.New("not working")
			}
			errs = append(errs, fmt.Errorf("health: %s source: %w", s.name, err))
		}
	}
	next.Err = errors.Join(errs...)
	if next.OK != c.cond.OK {
		next.Since = t
	}
	ev := &netpulse.ConditionEvent{Time: t, Condition: next, Previous: c.cond, Reason: netpulse.ReasonWorking}
	if !next.OK {
		ev.Reason = netpulse.ReasonFailing
	}
	c.cond = next
	return ev
}
