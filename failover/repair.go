package failover

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/netpulse/netpulse"
)

// A Verifier is an Actuator that can tell whether what it put in place is
// still there. When the Actuator is one, the engine verifies the active
// member of every group that is up each Config.RepairInterval (and at
// once on a DriftHinter's hint) and puts back what was removed behind its
// back (an `ip addr del`, a network manager, a DHCP client): the missing
// addresses are added again, the return path is steered again and one
// round of announcements is sent. Each repair is counted
// (Counters.Repairs) and reported with a RepairEvent.
type Verifier interface {
	// Verify reports what of addrs is missing from ifc, and whether their
	// return path through ifc is incomplete. An error means the check
	// could not be made.
	Verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (Drift, error)
}

// A DriftHinter is a Verifier that is told by the kernel when addresses or
// rules are deleted: the engine then verifies at once, instead of at the
// next RepairInterval, the groups whose active member the hint is about.
// The deletions a move makes on the member it leaves (its addresses, the
// rules pointing at its return table) thus verify nothing.
type DriftHinter interface {
	// DriftHints returns a channel that receives a hint for each deletion
	// that may concern what the actuator put in place. It is closed once
	// ctx is done (the engine passes a context that Close cancels) or the
	// actuator is closed.
	DriftHints(ctx context.Context) <-chan DriftHint
}

// A DriftHint tells what was deleted.
type DriftHint struct {
	// Interface is the interface the address was deleted from, or whose
	// return table the deleted rule pointed to (Index set; Name when
	// known).
	Interface netpulse.Interface
	// Address is the deleted address, or the source of the deleted rule.
	Address netip.Addr
	// Lost: notifications were lost (or hints came faster than they were
	// taken); anything may have been deleted.
	Lost bool
}

// concerns reports whether h may be about what g's active member holds.
func (h DriftHint) concerns(g *group) bool {
	if h.Lost {
		return true
	}
	if g.active == nil || (g.active.index != 0 && h.Interface.Index != g.active.index) {
		return false
	}
	return slices.ContainsFunc(g.cfg.Addresses, func(p netip.Prefix) bool { return p.Addr() == h.Address })
}

// Drift is what Verify found missing.
type Drift struct {
	// Addresses are the addresses missing from the interface.
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// ReturnPath: a return-path rule or route is missing or leads
	// elsewhere.
	ReturnPath bool `json:"return_path,omitempty"`
}

// None reports whether nothing is missing.
func (d Drift) None() bool { return len(d.Addresses) == 0 && !d.ReturnPath }

// RepairEvent reports that the active member's addresses or return path
// were found missing and put back.
type RepairEvent struct {
	// Time is when the repair completed; Group is the group repaired.
	Time  time.Time
	Group string
	// Interface is the active member repaired.
	Interface netpulse.Interface
	// Missing is what was found missing.
	Missing Drift
	// Err is nil when the repair succeeded; otherwise it is tried again at
	// the next verification.
	Err error
}

// EventTime returns e.Time (netpulse.Event).
func (e *RepairEvent) EventTime() time.Time { return e.Time }

// shadowAfter is how many repairs in a row must leave the return path
// incomplete before the engine stops re-steering it.
const shadowAfter = 3

var errReturnShadowed = errors.New("failover: the return path is still incomplete right after it was steered again (a rule of higher precedence, or another program, takes it): not repaired again until the next move")

// verify checks the active member of g and repairs it when something is
// missing; it runs on the engine's goroutine.
func (e *Engine) verify(g *group, v Verifier, now time.Time, hinted bool) {
	if g.state != GroupUp || g.active == nil || g.dirty || g.active.health != netpulse.HealthUp {
		return
	}
	if !hinted && now.Before(g.verifyAt) {
		return
	}
	g.verifyAt = now.Add(e.cfg.RepairInterval)
	ctx, ifc := e.ctx, g.active.ifc()
	d, err := v.Verify(ctx, ifc, g.cfg.Addresses)
	if g.returnShadowed {
		d.ReturnPath = false
	}
	if err != nil || d.None() {
		return // cannot tell: the next move or verification will
	}
	var errs error
	for _, p := range d.Addresses {
		if err := e.act.AddAddress(ctx, ifc, p); err != nil {
			errs = err
			break
		}
	}
	if errs == nil {
		errs = e.act.SteerReturn(ctx, ifc, g.cfg.Addresses)
	}
	if errs == nil && len(d.Addresses) > 0 {
		// Neighbours may have flushed the address meanwhile.
		e.counters.Announcements++
		if err := e.act.Announce(ctx, ifc, d.Addresses); err != nil && ctx.Err() == nil {
			e.counters.AnnounceErrors++
		}
	}
	if ctx.Err() != nil {
		return
	}
	retry := false
	if errs == nil && d.ReturnPath {
		// A return path that is still incomplete right after it was
		// steered again, shadowAfter times in a row, is shadowed by
		// something this engine does not own (e.g. a rule of higher
		// precedence): say so once, and do not fight it every
		// RepairInterval; the next move checks again. Fewer times may be
		// a second deletion racing the repair (an operator deleting the
		// IPv4 and then the IPv6 rule): steer again at the next step.
		if d2, err := v.Verify(ctx, ifc, g.cfg.Addresses); err == nil && d2.ReturnPath {
			g.shadowStreak++
			if g.shadowStreak >= shadowAfter {
				g.returnShadowed = true
				errs = errReturnShadowed
			} else {
				retry = true
			}
		} else {
			g.shadowStreak = 0
		}
	}
	done := time.Now()
	if retry {
		g.verifyAt = done
	}
	if errs == nil {
		e.counters.Repairs++
	} else {
		e.counters.ActionErrors++
		g.verifyAt = done.Add(e.cfg.RepairInterval)
		e.emit(&ActionErrorEvent{Time: done, Group: g.cfg.Name, Op: OpRepair, Interface: ifc, Err: errs, Permanent: IsPermanent(errs)})
	}
	e.emit(&RepairEvent{Time: done, Group: g.cfg.Name, Interface: ifc, Missing: d, Err: errs})
	e.log("repair", "group", g.cfg.Name, "interface", ifc.Name, "addresses", d.Addresses, "return_path", d.ReturnPath, "err", errs)
}
