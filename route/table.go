package route

import (
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
	"github.com/netpulse/netpulse"
)

// A Table is an in-memory routing table with the kernel's lookup rules:
// longest prefix first; within a prefix the kernel's order (metric, then
// insertion order); a prefix whose routes are all unusable falls back to
// the next shorter prefix, as the kernel backtracks. It also holds links,
// addresses and an interface preference for Select.
//
// A View keeps a Table in step with the kernel; a Table can also be built
// by hand (tests, simulations). A Table is not safe for concurrent use.
type Table struct {
	trie  bart.Table[entry]
	n     int
	links map[int]Link
	addrs map[int][]Address
	pref  []string
	rank  map[int]int
	// ranks mirrors rank for small ifindexes (rank+1, 0: unranked), so
	// that the tie-break on Select's hot path is an array read.
	ranks []int32
	// tracked maps the interfaces a View asked about (track) to their
	// prefixes and the number of routes of each through them, kept
	// current by setEntry, so that a carrier change of a small link is
	// applied without walking every route.
	tracked map[int]map[netip.Prefix]int32
}

// entry holds the routes of one prefix in kernel order, stored by value
// in the trie (one memory access less per lookup). Its routes slice is
// replaced, never modified in place, so Route values handed out stay
// valid. first is the index of the route Lookup answers for the prefix
// (-1: none usable, the kernel backtracks; -2: a throw route ends the
// lookup), computed on every change so that Lookup does not walk
// nexthops.
type entry struct {
	pfx    netip.Prefix
	first  int32
	nc     int8 // number of valid cands; -1: Select takes the slow path
	cands  [2]cand
	routes []Route
}

// cand summarises a single-path unicast route for Select, inline in the
// entry so that the common prefix of one or two such routes is decided
// without touching the routes' memory.
type cand struct {
	index  int32 // output ifindex
	metric uint32
	flags  NexthopFlags
}

func newEntry(p netip.Prefix, rs []Route) entry {
	e := entry{pfx: p, first: -1, routes: rs}
	if len(rs) <= len(e.cands) {
		e.nc = int8(len(rs))
		for i := range rs {
			r := &rs[i]
			if r.Type != TypeUnicast || r.Tos != 0 || r.SrcLen != 0 || len(r.Nexthops) != 1 {
				e.nc = -1
				break
			}
			e.cands[i] = cand{index: int32(r.Nexthops[0].Interface.Index), metric: r.Metric, flags: r.Nexthops[0].Flags}
		}
	} else {
		e.nc = -1
	}
	for i := range rs {
		r := &rs[i]
		if r.Tos != 0 || r.SrcLen != 0 {
			continue
		}
		if r.Type == TypeThrow {
			e.first = -2
			break
		}
		if r.Usable() {
			e.first = int32(i)
			break
		}
	}
	return e
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{links: map[int]Link{}, addrs: map[int][]Address{}, rank: map[int]int{}}
}

// Len returns the number of routes.
func (t *Table) Len() int { return t.n }

// SetPreference sets the interface preference used to break ties between
// equal routes in Select: names earlier in the list win; interfaces not
// listed come after, by lowest index.
func (t *Table) SetPreference(names []string) {
	t.pref = slices.Clone(names)
	t.rerank()
}

func (t *Table) rerank() {
	clear(t.rank)
	t.ranks = t.ranks[:0]
	for idx, l := range t.links {
		if i := slices.Index(t.pref, l.Name); i >= 0 {
			t.rank[idx] = i
			if idx > 0 && idx < 1<<16 {
				if idx >= len(t.ranks) {
					t.ranks = append(t.ranks, make([]int32, idx+1-len(t.ranks))...)
				}
				t.ranks[idx] = int32(i) + 1
			}
		}
	}
}

// SetLink adds or updates a link.
func (t *Table) SetLink(l Link) {
	t.links[l.Index] = l
	if slices.Contains(t.pref, l.Name) || len(t.rank) > 0 {
		t.rerank()
	}
}

// DeleteLink removes a link and its addresses.
func (t *Table) DeleteLink(index int) {
	delete(t.links, index)
	delete(t.addrs, index)
	if _, ok := t.rank[index]; ok {
		delete(t.rank, index)
		t.rerank()
	}
}

// Link returns the link with the given index.
func (t *Table) Link(index int) (Link, bool) {
	l, ok := t.links[index]
	return l, ok
}

// LinkByName returns the link with the given name.
func (t *Table) LinkByName(name string) (Link, bool) {
	for _, l := range t.links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// Links returns every link, by index.
func (t *Table) Links() []Link {
	out := make([]Link, 0, len(t.links))
	for _, l := range t.links {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return a.Index - b.Index })
	return out
}

// AddAddress adds an address (replacing an equal one).
func (t *Table) AddAddress(a Address) {
	i := a.Interface.Index
	t.DeleteAddress(a)
	t.addrs[i] = append(slices.Clip(t.addrs[i]), a)
}

// DeleteAddress removes an address.
func (t *Table) DeleteAddress(a Address) {
	i := a.Interface.Index
	t.addrs[i] = slices.DeleteFunc(slices.Clone(t.addrs[i]), func(b Address) bool { return b.Prefix == a.Prefix })
}

// Addresses returns the addresses of the interface with the given index,
// or of every interface when index is 0.
func (t *Table) Addresses(index int) []Address {
	if index != 0 {
		return slices.Clone(t.addrs[index])
	}
	var out []Address
	for _, as := range t.addrs {
		out = append(out, as...)
	}
	slices.SortFunc(out, func(a, b Address) int {
		if a.Interface.Index != b.Interface.Index {
			return a.Interface.Index - b.Interface.Index
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	return out
}

func (t *Table) name(r *Route) {
	for i := range r.Nexthops {
		if l, ok := t.links[r.Nexthops[i].Interface.Index]; ok {
			r.Nexthops[i].Interface.Name = l.Name
		}
	}
}

// Insert positions for Add.
type position uint8

const (
	// appendPos puts the route after every route of its prefix with a
	// metric not above its own (the kernel's NLM_F_APPEND, and IPv6).
	appendPos position = iota
	// prependPos puts it before routes of equal metric (IPv4 without
	// NLM_F_APPEND: "ip route prepend").
	prependPos
	// replacePos replaces the first route of equal metric and TOS
	// (NLM_F_REPLACE), or appends.
	replacePos
)

// Add adds r after the routes of its prefix with a metric not above its
// own, as the kernel orders appended routes. An identical route (same
// destination, table, TOS, metric, type and paths) is replaced in place.
func (t *Table) Add(r Route) { t.insert(r, appendPos) }

// insert adds r at pos. move is for notifications: a route the kernel
// announces as added is where the kernel's rules put it, so a copy already
// in the table (from a dump taken while routes changed, or a stale
// notification) is taken out first. Without move an identical route is
// updated in place (dumps, Add).
func (t *Table) insert(r Route, pos position, move ...bool) {
	mv := len(move) > 0 && move[0]
	r.Dst = r.Dst.Masked()
	r.Nexthops = slices.Clone(r.Nexthops)
	t.name(&r)
	e, ok := t.trie.Get(r.Dst)
	if !ok {
		t.setEntry(r.Dst, []Route{r})
		t.n++
		return
	}
	rs := slices.Clone(e.routes)
	defer func() { t.setEntry(r.Dst, rs) }()
	if mv {
		n := len(rs)
		rs = slices.DeleteFunc(rs, func(x Route) bool { return sameKey(&x, &r) })
		t.n -= n - len(rs)
	}
	if pos == replacePos {
		// The kernel replaces the first route of equal metric, even when
		// an identical route follows (IPv6 then holds both).
		for i := range rs {
			if rs[i].Metric == r.Metric && rs[i].Tos == r.Tos {
				rs[i] = r
				return
			}
		}
	} else if !mv {
		for i := range rs {
			if sameKey(&rs[i], &r) {
				rs[i] = r
				return
			}
		}
	}
	at := len(rs)
	for i := range rs {
		if rs[i].Metric > r.Metric || (pos == prependPos && rs[i].Metric == r.Metric) {
			at = i
			break
		}
	}
	rs = slices.Insert(rs, at, r)
	t.n++
}

// Delete removes the route with r's key (destination, table, TOS, metric,
// type and paths; flags, protocol and source aside) and reports whether
// it was there.
func (t *Table) Delete(r Route) bool {
	dst := r.Dst.Masked()
	e, ok := t.trie.Get(dst)
	if !ok {
		return false
	}
	r.Dst = dst
	for i := range e.routes {
		if sameKey(&e.routes[i], &r) {
			if len(e.routes) == 1 {
				t.setEntry(dst, nil)
			} else {
				t.setEntry(dst, slices.Delete(slices.Clone(e.routes), i, i+1))
			}
			t.n--
			return true
		}
	}
	return false
}

// RoutesTo returns the routes of exactly prefix p, in kernel order.
func (t *Table) RoutesTo(p netip.Prefix) []Route {
	e, ok := t.trie.Get(p.Masked())
	if !ok {
		return nil
	}
	return slices.Clone(e.routes)
}

// Routes returns every route, sorted by prefix, then kernel order.
func (t *Table) Routes() []Route {
	out := make([]Route, 0, t.n)
	for _, e := range t.trie.AllSorted() {
		out = append(out, e.routes...)
	}
	return out
}

// Lookup returns the route the kernel would use for dst: the longest
// prefix with a usable route (Route.Usable), and within it the first
// usable route in kernel order. The returned route shares its Nexthops
// with the table: do not modify them. Lookup does not allocate.
func (t *Table) Lookup(dst netip.Addr) (Route, bool) {
	dst = dst.Unmap()
	if !dst.IsValid() {
		return Route{}, false
	}
	for e, ok := t.trie.Lookup(dst); ok; e, ok = t.shorter(dst, &e) {
		switch {
		case e.first >= 0:
			return e.routes[e.first], true
		case e.first == -2:
			// A throw route: the kernel ends the lookup in this table.
			return Route{}, false
		}
	}
	return Route{}, false
}

// shorter returns the entry of the longest prefix covering dst that is
// shorter than e's: where the kernel backtracks when no route of e is
// usable.
func (t *Table) shorter(dst netip.Addr, e *entry) (entry, bool) {
	if e.pfx.Bits() == 0 {
		return entry{}, false
	}
	return t.trie.LookupPrefix(netip.PrefixFrom(dst, e.pfx.Bits()-1))
}

// healthyHop returns the index of the first nexthop of r that is usable
// and healthy, or -1 with the health and reason of the last skipped one
// (ReasonNone for a nexthop the kernel marks dead without a link cause).
func healthyHop(r *Route, h HealthSource) (int, netpulse.Health, netpulse.Reason) {
	var hl netpulse.Health
	why := netpulse.ReasonNone
	for i := range r.Nexthops {
		nh := &r.Nexthops[i]
		if h != nil {
			hl = h.Health(nh.Interface.Index)
		} else {
			hl = netpulse.HealthUnknown
		}
		switch {
		case nh.Flags.LinkDown():
			why = netpulse.ReasonLinkDown
		case nh.Flags.Dead():
			why = netpulse.ReasonNone
		case !healthy(hl):
			why = healthReason(hl)
		default:
			return i, hl, netpulse.ReasonNone
		}
	}
	return -1, hl, why
}

// better reports whether candidate a (hop ai) beats b (hop bi): lower
// metric, then configured interface preference, then lowest ifindex.
func (t *Table) better(a *Route, ai int, b *Route, bi int) bool {
	if a.Metric != b.Metric {
		return a.Metric < b.Metric
	}
	return t.betterIndex(a.Nexthops[ai].Interface.Index, b.Nexthops[bi].Interface.Index)
}

// pick returns the index in rs of the best healthy unicast route and the
// index of its hop, or -1.
func (t *Table) pick(rs []Route, h HealthSource, skipProto Protocol) (int, int) {
	best, bestHop := -1, -1
	for i := range rs {
		r := &rs[i]
		if r.Type != TypeUnicast || !r.Usable() || (skipProto != 0 && r.Protocol == skipProto) {
			continue
		}
		hop, _, _ := healthyHop(r, h)
		if hop < 0 {
			continue
		}
		if best < 0 || t.better(r, hop, &rs[best], bestHop) {
			best, bestHop = i, hop
		}
	}
	return best, bestHop
}

// pickFast is pick over the entry's inline summaries.
func (t *Table) pickFast(e *entry, h HealthSource) int {
	best := -1
	for i := range int(e.nc) {
		c := &e.cands[i]
		if c.flags&(FlagDead|FlagLinkDown) != 0 || (h != nil && !healthy(h.Health(int(c.index)))) {
			continue
		}
		if best < 0 || t.betterCand(c, &e.cands[best]) {
			best = i
		}
	}
	return best
}

func (t *Table) betterCand(a, b *cand) bool {
	if a.metric != b.metric {
		return a.metric < b.metric
	}
	return t.betterIndex(int(a.index), int(b.index))
}

// betterIndex breaks a tie between equal routes: configured preference,
// then lowest ifindex.
func (t *Table) betterIndex(ia, ib int) bool {
	if len(t.rank) > 0 {
		ra, oka := t.rankOf(ia)
		rb, okb := t.rankOf(ib)
		switch {
		case oka && okb && ra != rb:
			return ra < rb
		case oka != okb:
			return oka
		}
	}
	return ia < ib
}

func (t *Table) rankOf(index int) (int, bool) {
	if index > 0 && index < len(t.ranks) {
		r := t.ranks[index]
		return int(r) - 1, r > 0
	}
	if index < 1<<16 {
		return 0, false
	}
	r, ok := t.rank[index]
	return r, ok
}

// Select returns the best route to dst whose output interface is healthy
// by h (nil: every interface unknown, so only the kernel's flags count).
// It walks prefixes from the longest like Lookup; within a prefix it skips
// routes that are not unicast, not usable, flagged linkdown, or whose
// interfaces h reports down, and among the rest prefers the lowest
// metric, then the configured interface preference (SetPreference), then
// the lowest ifindex — never the order in which routes were added. Select
// does not allocate on success (if h does not). With no healthy route it
// returns a *NoHealthyRouteError listing every candidate and why it was
// skipped.
func (t *Table) Select(dst netip.Addr, h HealthSource) (Selection, error) {
	dst = dst.Unmap()
	if !dst.IsValid() {
		return Selection{}, &NoHealthyRouteError{Dst: dst}
	}
	for e, ok := t.trie.Lookup(dst); ok; e, ok = t.shorter(dst, &e) {
		i, hop := -1, 0
		if e.nc >= 0 {
			i = t.pickFast(&e, h)
		} else {
			i, hop = t.pick(e.routes, h, 0)
		}
		if i >= 0 {
			r := &e.routes[i]
			nh := &r.Nexthops[hop]
			return Selection{Route: *r, Interface: nh.Interface, Gateway: nh.Gateway, Src: t.source(r, nh, dst)}, nil
		}
	}
	return Selection{}, t.noHealthy(dst, h)
}

func (t *Table) noHealthy(dst netip.Addr, h HealthSource) error {
	err := &NoHealthyRouteError{Dst: dst}
	for e, ok := t.trie.Lookup(dst); ok; e, ok = t.shorter(dst, &e) {
		for i := range e.routes {
			r := &e.routes[i]
			if r.Tos != 0 || r.SrcLen != 0 {
				continue
			}
			c := Candidate{Route: *r}
			if r.Type != TypeUnicast {
				c.Unusable = "not-unicast"
			} else if _, c.Health, c.Reason = healthyHop(r, h); c.Reason == netpulse.ReasonNone {
				c.Unusable = "dead"
			}
			err.Candidates = append(err.Candidates, c)
		}
	}
	return err
}

// source returns the route's preferred source, else an address of dst's
// family on the hop's interface, preferring global scope and a prefix that
// covers the gateway or dst.
func (t *Table) source(r *Route, nh *Nexthop, dst netip.Addr) netip.Addr {
	if r.Src.IsValid() {
		return r.Src
	}
	near := nh.Gateway
	if !near.IsValid() {
		near = dst
	}
	var best netip.Addr
	bestScore := -1
	for _, a := range t.addrs[nh.Interface.Index] {
		ip := a.Prefix.Addr()
		if ip.Is4() != dst.Is4() {
			continue
		}
		score := 0
		if a.Scope == 0 {
			score += 2
		}
		if a.Prefix.Contains(near) {
			score += 4
		}
		if score > bestScore {
			best, bestScore = ip, score
		}
	}
	return best
}
