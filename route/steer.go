package route

import (
	"net/netip"
	"slices"
	"time"

	"github.com/netpulse/netpulse"
)

// A SteerEvent reports one steering change of a guarded prefix: what the
// Steerer changed in the kernel, why and when.
type SteerEvent struct {
	// Time is when the change was made (wall clock with monotonic reading);
	// for an initial event, when Dst began to use Interface.
	Time time.Time
	// Initial marks the events a subscription starts with: the state of
	// every guarded prefix at the time of Subscribe, not a change
	// (Previous equals Interface; Reason is why Natural is not used when
	// the prefix is steered, as in GuardState, else ReasonNone; no routes
	// added nor removed).
	Initial bool
	// Dst is the guarded prefix.
	Dst netip.Prefix
	// Interface is the interface now used for Dst (zero if none).
	Interface netpulse.Interface
	// Previous is the interface used before (zero if none).
	Previous netpulse.Interface
	// Reason is why: ReasonLinkDown, ReasonIPDown or ReasonDisabled
	// (Previous failed, by its health or by the kernel's linkdown flag),
	// ReasonRecovered (the kernel's own route is healthy again and used),
	// ReasonRemoved (the route used before is gone), ReasonReconciled (the
	// Steerer repaired its own routes, re-adding one deleted behind its
	// back or removing one no longer wanted, without changing the
	// interface in use) or ReasonRestored (Close: the table is as it was
	// found).
	Reason netpulse.Reason
	// Added and Removed are the routes the Steerer added to and deleted
	// from the kernel for this change.
	Added, Removed []Route
	// Err is the first kernel error met while making the change, if any.
	Err error
}

// EventTime returns e.Time.
func (e *SteerEvent) EventTime() time.Time { return e.Time }

// steerPlan is what a Steerer wants for one guarded prefix.
type steerPlan struct {
	dst       netip.Prefix
	natural   *Route             // the kernel's own choice among non-override routes
	effective netpulse.Interface // interface used once the plan is applied
	reason    netpulse.Reason    // why natural is not used (ReasonNone if it is)
	want      []Route            // override routes wanted
	have      []Route            // override routes present
}

// halves splits p into its two more specific halves. ok is false for a
// host prefix.
func halves(p netip.Prefix) (lo, hi netip.Prefix, ok bool) {
	p = p.Masked()
	bits := p.Bits()
	if bits >= p.Addr().BitLen() {
		return lo, hi, false
	}
	a := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	lo = netip.PrefixFrom(p.Addr(), bits+1)
	a[off+bits/8] |= 0x80 >> (bits % 8)
	ha := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		ha = ha.Unmap()
	}
	hi = netip.PrefixFrom(ha, bits+1)
	return lo, hi, true
}

// plan decides the overrides for guarded prefix p in t. guarded tells
// whether an interface index is one the Steerer guards; routes through
// other interfaces are never steered away from (but may be steered to).
func (t *Table) plan(p netip.Prefix, table uint32, h HealthSource, guarded func(int) bool, proto Protocol, metric uint32) steerPlan {
	pl := steerPlan{dst: p}
	lo, hi, ok := halves(p)
	if !ok {
		return pl
	}
	for _, q := range []netip.Prefix{lo, hi} {
		for _, r := range t.RoutesTo(q) {
			if r.Protocol == proto {
				pl.have = append(pl.have, r)
			}
		}
	}
	rs := t.RoutesTo(p)
	for i := range rs {
		r := &rs[i]
		if r.Protocol == proto || r.Table != table {
			continue
		}
		if r.Usable() {
			pl.natural = r
			break
		}
	}
	if pl.natural == nil {
		return pl
	}
	pl.effective = pl.natural.Interface()
	if pl.natural.Type != TypeUnicast {
		return pl
	}
	nhop, nh, why := healthyHop(pl.natural, h)
	var pick *Route
	if nhop >= 0 {
		pl.effective = pl.natural.Nexthops[nhop].Interface
		// A multipath route with a sick hop the kernel still uses keeps
		// hashing flows onto it: steer to its healthy hops only.
		sick := netpulse.ReasonNone
		for _, n := range pl.natural.Nexthops {
			if n.Flags.Dead() || !guarded(n.Interface.Index) {
				continue
			}
			if n.Flags.LinkDown() {
				sick = netpulse.ReasonLinkDown
			} else if h != nil {
				sick = healthReason(h.Health(n.Interface.Index))
			}
			if sick != netpulse.ReasonNone {
				break
			}
		}
		if sick == netpulse.ReasonNone || len(pl.natural.Nexthops) == 1 {
			return pl
		}
		pl.reason = sick
		pick = pl.natural
	} else {
		if !slices.ContainsFunc(pl.natural.Nexthops, func(n Nexthop) bool { return guarded(n.Interface.Index) }) {
			return pl
		}
		pl.reason = why
		if why == netpulse.ReasonNone {
			// Dead without a cause the health tells: the link's.
			pl.reason = healthReason(nh)
			if pl.reason == netpulse.ReasonNone {
				pl.reason = netpulse.ReasonLinkDown
			}
		}
		var cand []Route
		for i := range rs {
			if rs[i].Protocol != proto && rs[i].Table == table {
				cand = append(cand, rs[i])
			}
		}
		i, _ := t.pick(cand, h, proto)
		if i < 0 {
			return pl
		}
		pick = &cand[i]
	}
	var hops []Nexthop
	for _, n := range pick.Nexthops {
		if n.Flags.Dead() || n.Flags.LinkDown() || (h != nil && !healthy(h.Health(n.Interface.Index))) {
			continue
		}
		hops = append(hops, Nexthop{Interface: n.Interface, Gateway: n.Gateway, Flags: n.Flags & FlagOnlink, Weight: n.Weight})
	}
	pl.effective = hops[0].Interface
	for _, q := range []netip.Prefix{lo, hi} {
		pl.want = append(pl.want, Route{
			Dst: q, Table: table, Metric: metric, Protocol: proto, Scope: pick.Scope,
			Type: TypeUnicast, Src: pick.Src, Nexthops: hops,
		})
	}
	return pl
}

// overrideEqual compares an installed override with a wanted one.
func overrideEqual(a, b *Route) bool {
	return sameKey(a, b) && a.Src == b.Src && a.Scope == b.Scope && a.Protocol == b.Protocol
}

// diff returns the overrides to add and to delete.
func (pl *steerPlan) diff() (add, del []Route) {
	for i := range pl.want {
		if !slices.ContainsFunc(pl.have, func(r Route) bool { return overrideEqual(&r, &pl.want[i]) }) {
			add = append(add, pl.want[i])
		}
	}
	for i := range pl.have {
		if !slices.ContainsFunc(pl.want, func(r Route) bool { return overrideEqual(&r, &pl.have[i]) }) {
			del = append(del, pl.have[i])
		}
	}
	return add, del
}

// eventReason explains a change of the interface in use from prev to cur.
func eventReason(pl *steerPlan, prevDown netpulse.Reason) netpulse.Reason {
	switch {
	case prevDown != netpulse.ReasonNone:
		return prevDown
	case pl.natural == nil, len(pl.want) == 0 && pl.reason != netpulse.ReasonNone:
		// The route used before is gone and nothing healthy is left.
		return netpulse.ReasonRemoved
	case len(pl.want) == 0:
		return netpulse.ReasonRecovered
	}
	return pl.reason
}
