package ipmon

import (
	"net/netip"
	"time"

	"github.com/netpulse/netpulse"
)

// Hold says why a target is not probed for now. A held target's state is
// Unknown (it is no evidence either way); probing resumes by itself when
// the reason goes away, and each change is a *TargetEvent with the
// new Hold.
type Hold int

const (
	// HoldNone: the target is probed.
	HoldNone Hold = iota
	// HoldLocal: the target's address has become an address of this host
	// (a service address moved here, for example): a node can always reach
	// itself, so probing it would prove nothing. Add refuses such a target
	// (ErrLocalAddress); a target that becomes local later is held.
	HoldLocal
	// HoldNoSource: the target's interface has no address of the target's
	// family to send from (for IPv4: no IPv4 address at all on it). An echo
	// probe from another interface's address would be answered through
	// that other interface and test its path instead, so the target is not
	// probed until the interface gets an address. A standby without an
	// address of its own tests its path with ProbeARP (IPv4) or
	// ProbeLinkLocalEcho (IPv6) targets. An address that is on two interfaces
	// at once (a service address being moved; an unnumbered setup) is no
	// source for either: set Target.Source to use it anyway.
	HoldNoSource
)

// resolver is implemented by a transport that follows the namespace's
// links and addresses. resolver returns a function that says, from what
// the transport knows at the call, which interface index t's interface has
// (0: none), which source address its probes take, and whether it must be
// held. setSource rewrites a target's prepared destination for a new
// source address; it is called with Poller.mu held.
type resolver interface {
	resolver() func(t Target) (ifindex int, src netip.Addr, hold Hold)
	setSource(tg *target, src netip.Addr)
}

// syncer is implemented by a transport whose view of links and addresses
// lags the kernel's: sync returns once it holds every change made before
// the call.
type syncer interface {
	sync() error
}

// refresh re-checks every target after a link or address change: a target
// whose address became local is held, one whose interface lost its last
// address of the target's family is held, one whose reason went away is
// probed again, and one whose interface's preferred source address changed
// takes the new one. Targets whose interface has another index now are
// rebind's business. Called by the transport without Poller.mu.
func (p *Poller) refresh() {
	r, ok := p.tr.(resolver)
	if !ok {
		return
	}
	// Decide without Poller.mu (10,000 targets must not stall the
	// scheduler), apply under it to the targets not changed meanwhile.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	type check struct {
		tg      *target
		t       Target
		ifindex int
		src     netip.Addr
		hold    Hold
	}
	checks := make([]check, 0, len(p.targets))
	for _, tg := range p.targets {
		checks = append(checks, check{tg, tg.t, tg.ifindex, tg.src, tg.hold})
	}
	p.mu.Unlock()
	resolve := r.resolver()
	n := 0
	for _, c := range checks {
		idx, src, h := resolve(c.t)
		if idx == 0 || idx != c.ifindex {
			continue // gone, or recreated: rebind's business
		}
		if h == c.hold && (h != HoldNone || src == c.src) {
			continue
		}
		c.src, c.hold = src, h
		checks[n] = c
		n++
	}
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	for _, c := range checks[:n] {
		tg := c.tg
		if p.targets[c.t.key()] != tg || tg.t != c.t || tg.ifindex != c.ifindex {
			continue // removed, updated or rebound meanwhile
		}
		if c.hold == HoldNone && c.src != tg.src {
			r.setSource(tg, c.src)
			tg.src = c.src
		}
		p.setHold(tg, c.hold, now)
	}
}

// setHold holds or resumes tg. Called with Poller.mu held.
func (p *Poller) setHold(tg *target, h Hold, now time.Time) {
	if tg.hold == h {
		return
	}
	was := tg.hold
	tg.hold = h
	prev := tg.state
	if was == HoldNone {
		// Stop probing; replies to probes in flight count as late.
		p.heap.remove(tg)
		p.gens[tg.slot]++
		tg.gen = p.gens[tg.slot]
		tg.resizeRing()
		tg.state, tg.lastChange = TargetUnknown, now
		tg.misses, tg.replies = 0, 0
	}
	if h == HoldNone {
		tg.spreadNextSend(now)
		tg.due = tg.nextSend
		p.heap.push(tg)
		p.kick()
		p.log.Info("ipmon: target probed again", "target", tg.t.String(), "was", was.String())
	} else {
		p.log.Info("ipmon: target held", "target", tg.t.String(), "hold", h.String())
	}
	p.changed(tg, prev, now)
}

// setCondition records the Poller's own condition (err nil: OK) and
// publishes a *netpulse.ConditionEvent when it changes. Called without
// Poller.mu.
func (p *Poller) setCondition(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || sameProblem(p.cond.Err, err) {
		return
	}
	prev := p.cond
	p.cond = netpulse.Condition{OK: err == nil, Err: err, Since: time.Now()}
	reason := netpulse.ReasonWorking
	if err != nil {
		p.condFaults++
		reason = netpulse.ReasonFailing
	}
	p.hub.Publish(&netpulse.ConditionEvent{Time: p.cond.Since, Condition: p.cond, Previous: prev, Reason: reason})
}

// sameProblem reports whether a and b say the same (both nil, or the same
// message): a failure repeated is no new condition.
func sameProblem(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}
