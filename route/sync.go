package route

import (
	"net/netip"
	"slices"
)

// usesInterface reports whether one of r's nexthops goes out of the
// interface with the given index.
func usesInterface(r *Route, index int) bool {
	for i := range r.Nexthops {
		if r.Nexthops[i].Interface.Index == index {
			return true
		}
	}
	return false
}

// setEntry replaces the routes of prefix p (none: p is removed) and keeps
// the tracked interfaces' prefixes current.
func (t *Table) setEntry(p netip.Prefix, rs []Route) {
	if len(t.tracked) > 0 {
		old, _ := t.trie.Get(p)
		t.retrack(p, old.routes, -1)
		t.retrack(p, rs, 1)
	}
	if len(rs) == 0 {
		t.trie.Delete(p)
		return
	}
	t.trie.Insert(p, newEntry(p, rs))
}

// retrack adds d to the count of prefix p of each tracked interface that
// a route of rs goes through (once per route), touching only those.
func (t *Table) retrack(p netip.Prefix, rs []Route, d int32) {
	for i := range rs {
		nhs := rs[i].Nexthops
		for j := range nhs {
			idx := nhs[j].Interface.Index
			m, ok := t.tracked[idx]
			if !ok || slices.ContainsFunc(nhs[:j], func(n Nexthop) bool { return n.Interface.Index == idx }) {
				continue
			}
			if n := m[p] + d; n > 0 {
				m[p] = n
			} else {
				delete(m, p)
			}
		}
	}
}

// track returns the prefixes with a route through interface idx, walking
// the table the first time an interface is asked about and keeping the
// answer current afterwards.
func (t *Table) track(idx int) map[netip.Prefix]int32 {
	if m, ok := t.tracked[idx]; ok {
		return m
	}
	m := map[netip.Prefix]int32{}
	for p, e := range t.trie.All() {
		for i := range e.routes {
			if usesInterface(&e.routes[i], idx) {
				m[p]++
			}
		}
	}
	if t.tracked == nil {
		t.tracked = map[int]map[netip.Prefix]int32{}
	}
	t.tracked[idx] = m
	return m
}

// prefixesUsing returns the prefixes that have a route through one of the
// interfaces in idx.
func (t *Table) prefixesUsing(idx map[int]bool) []netip.Prefix {
	var out []netip.Prefix
	for i := range idx {
		for p := range t.track(i) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// setCarrier applies to the routes through interface idx what the kernel
// does to them when the interface, administratively up, loses or regains
// its carrier: RTNH_F_LINKDOWN is set on their nexthops through it (and
// RTNH_F_DEAD reported with it when ignore_routes_with_linkdown holds for
// the route's family: ignore4, ignore6), or both cleared. Routes are not
// added nor removed. It reports whether a route changed.
func (t *Table) setCarrier(idx int, carrier, ignore4, ignore6 bool) bool {
	changed := false
	for _, p := range t.prefixesUsing(map[int]bool{idx: true}) {
		e, _ := t.trie.Get(p)
		rs := slices.Clone(e.routes)
		dirty := false
		for i := range rs {
			r := &rs[i]
			// A carrier change leaves IPv6 local and anycast routes alone.
			if p.Addr().Is6() && (r.Type == TypeLocal || r.Type == TypeAnycast) {
				continue
			}
			var nhs []Nexthop
			for j, n := range r.Nexthops {
				if n.Interface.Index != idx {
					continue
				}
				f := n.Flags &^ (FlagLinkDown | FlagDead)
				if !carrier {
					f |= FlagLinkDown
					if (p.Addr().Is4() && ignore4) || (p.Addr().Is6() && ignore6) {
						f |= FlagDead
					}
				}
				if f != n.Flags {
					if nhs == nil {
						nhs = slices.Clone(r.Nexthops)
					}
					nhs[j].Flags = f
				}
			}
			if nhs != nil {
				r.Nexthops = nhs
				dirty = true
			}
		}
		if dirty {
			changed = true
			t.setEntry(p, rs)
		}
	}
	return changed
}

// interfacesOfSource returns the output interfaces of the routes whose
// preferred source is src.
func (t *Table) interfacesOfSource(src netip.Addr, into map[int]bool) {
	for _, e := range t.trie.All() {
		for i := range e.routes {
			if e.routes[i].Src == src {
				for _, n := range e.routes[i].Nexthops {
					into[n.Interface.Index] = true
				}
			}
		}
	}
}

// syncInterfaces makes the routes of t that use one of the interfaces in
// idx equal to krs, the kernel's routes that use one of them (as a dump
// filtered by output interface answers): a route still there takes the
// kernel's attributes (flags above all) in place, a route gone is
// removed, a route not known is added after the routes of its prefix with
// a metric not above its own. Routes through other interfaces are not
// touched. It reports whether anything changed.
//
// It is what the View does on a link or address change instead of reading
// the whole table again: the kernel changes the nexthop flags of the
// link's routes and flushes IPv4 routes without a route notification,
// and only the routes through the link can be affected.
func (t *Table) syncInterfaces(idx map[int]bool, krs []Route) bool {
	uses := func(r *Route) bool {
		return slices.ContainsFunc(r.Nexthops, func(n Nexthop) bool { return idx[n.Interface.Index] })
	}
	byPfx := map[netip.Prefix][]Route{}
	for _, r := range krs {
		r.Dst = r.Dst.Masked()
		byPfx[r.Dst] = append(byPfx[r.Dst], r)
	}
	touched := t.prefixesUsing(idx)
	for p := range byPfx {
		if _, ok := t.trie.Get(p); !ok {
			touched = append(touched, p)
		}
	}
	changed := false
	for _, p := range touched {
		want := byPfx[p]
		matched := make([]bool, len(want))
		e, _ := t.trie.Get(p)
		var rs []Route
		local := false
		for i := range e.routes {
			r := &e.routes[i]
			if !uses(r) {
				rs = append(rs, *r)
				continue
			}
			j := slices.IndexFunc(want, func(k Route) bool { return sameKey(&k, r) })
			for j >= 0 && matched[j] {
				// An identical route listed twice: take the next one.
				n := slices.IndexFunc(want[j+1:], func(k Route) bool { return sameKey(&k, r) })
				if n < 0 {
					j = -1
					break
				}
				j += 1 + n
			}
			if j < 0 {
				local = true // gone
				continue
			}
			matched[j] = true
			k := want[j]
			k.Nexthops = slices.Clone(k.Nexthops)
			t.name(&k)
			if !k.Equal(r) {
				local = true
			}
			rs = append(rs, k)
		}
		if local || len(rs) != len(e.routes) {
			changed = true
			t.n += len(rs) - len(e.routes)
			t.setEntry(p, rs)
		}
		for j := range want {
			if !matched[j] {
				changed = true
				t.insert(want[j], appendPos)
			}
		}
	}
	return changed
}

// deleteInterface removes every route through the interface (the kernel
// removes them when the link is deleted) and reports whether one was. The
// interface is no longer tracked: a view that sees links come and go
// keeps no entry per deleted link.
func (t *Table) deleteInterface(index int) bool {
	changed := t.syncInterfaces(map[int]bool{index: true}, nil)
	delete(t.tracked, index)
	return changed
}
