//go:build linux

package ipmon

import (
	"net"
	"net/netip"
	"sync"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// addrTable is the namespace's links and addresses, kept by the link
// follower from the notifications it receives (subscribed before the first
// dump, so nothing between the dump and the subscription is lost; after
// ENOBUFS it is dumped again). Add, Update and rebind read it instead of
// dumping links and addresses for every target (issue 12 item 5: 10,000
// Adds cost 20,000 dumps). Its lock is a leaf: it may be taken under
// Poller.mu and under linuxTransport.lk.
type addrTable struct {
	mu    sync.Mutex
	links map[int]tableLink
	addrs map[addrKey]tableAddr
}

type tableLink struct {
	name string
	hw   net.HardwareAddr
	up   bool // IFF_UP
	// carrier: IFF_UP and IFF_LOWER_UP, as last dumped or notified.
	carrier bool
}

type addrKey struct {
	index int
	local netip.Addr
	bits  int
}

type tableAddr struct {
	index int
	// local is the host's address (IFA_LOCAL for IPv4, IFA_ADDRESS for
	// IPv6); peer the other end of a point-to-point address (IFA_ADDRESS),
	// else equal to local.
	local, peer netip.Addr
	bits        int
	bcast       netip.Addr
	flags       uint32 // IFA_F_*
	created     uint32 // IFA_CACHEINFO cstamp (hundredths of a second since boot)
}

func newAddrTable() *addrTable {
	return &addrTable{links: make(map[int]tableLink), addrs: make(map[addrKey]tableAddr)}
}

// reset replaces the table's content with a dump.
func (at *addrTable) reset(links []rtnetlink.LinkMessage, addrs []rtnetlink.AddressMessage) {
	at.mu.Lock()
	defer at.mu.Unlock()
	clear(at.links)
	clear(at.addrs)
	for i := range links {
		at.setLinkLocked(&links[i])
	}
	for i := range addrs {
		at.setAddrLocked(&addrs[i], true)
	}
}

// applyLink applies a link notification (RTM_NEWLINK, or RTM_DELLINK when
// del is set).
func (at *addrTable) applyLink(lm *rtnetlink.LinkMessage, del bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	if !del {
		at.setLinkLocked(lm)
		return
	}
	delete(at.links, int(lm.Index))
	for k := range at.addrs {
		if k.index == int(lm.Index) {
			delete(at.addrs, k)
		}
	}
}

// applyAddr applies an address notification (RTM_NEWADDR when add is set,
// else RTM_DELADDR).
func (at *addrTable) applyAddr(am *rtnetlink.AddressMessage, add bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	at.setAddrLocked(am, add)
}

func (at *addrTable) setLinkLocked(lm *rtnetlink.LinkMessage) {
	if lm.Attributes == nil {
		return
	}
	l := tableLink{name: lm.Attributes.Name, hw: append(net.HardwareAddr(nil), lm.Attributes.Address...), up: lm.Flags&unix.IFF_UP != 0,
		carrier: hasCarrier(lm.Flags)}
	if old, ok := at.links[int(lm.Index)]; ok && l.name == "" {
		l.name = old.name
	}
	at.links[int(lm.Index)] = l
}

// hasCarrier reports whether link flags say the link can carry a probe:
// administratively up (IFF_UP) with carrier (IFF_LOWER_UP).
func hasCarrier(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_LOWER_UP != 0
}

func ipAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (at *addrTable) setAddrLocked(am *rtnetlink.AddressMessage, add bool) {
	if am.Attributes == nil {
		return
	}
	a := tableAddr{index: int(am.Index), bits: int(am.PrefixLength), flags: uint32(am.Flags) | am.Attributes.Flags}
	a.peer = ipAddr(am.Attributes.Address)
	a.local = ipAddr(am.Attributes.Local)
	if !a.local.IsValid() {
		a.local = a.peer
	}
	if !a.peer.IsValid() {
		a.peer = a.local
	}
	if !a.local.IsValid() {
		return
	}
	a.bcast = ipAddr(am.Attributes.Broadcast)
	a.created = am.Attributes.CacheInfo.Created
	k := addrKey{a.index, a.local, a.bits}
	if add {
		at.addrs[k] = a
	} else {
		delete(at.addrs, k)
	}
}

// link returns the index and hardware address of the interface named
// name.
func (at *addrTable) link(name string) (int, net.HardwareAddr, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	for idx, l := range at.links {
		if l.name == name {
			return idx, l.hw, true
		}
	}
	return 0, nil, false
}

// carrier reports the carrier of link idx as the table last saw it, and
// whether the table knows the link.
func (at *addrTable) carrier(idx int) (up, ok bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	l, ok := at.links[idx]
	return l.carrier, ok
}

// linkName returns the name of the interface of index idx.
func (at *addrTable) linkName(idx int) (string, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	l, ok := at.links[idx]
	return l.name, ok
}

// linkList returns every link's index and name.
func (at *addrTable) linkList() map[int]string {
	at.mu.Lock()
	defer at.mu.Unlock()
	m := make(map[int]string, len(at.links))
	for idx, l := range at.links {
		m[idx] = l.name
	}
	return m
}

// local returns the index of an interface that holds a as its address,
// and whether one does.
func (at *addrTable) local(a netip.Addr) (int, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	for _, ta := range at.addrs {
		if ta.local == a {
			return ta.index, true
		}
	}
	return 0, false
}

// broadcast reports whether a is the broadcast address of one of the
// host's IPv4 addresses.
func (at *addrTable) broadcast(a netip.Addr) bool {
	at.mu.Lock()
	defer at.mu.Unlock()
	for _, ta := range at.addrs {
		if ta.bcast.IsValid() && ta.bcast == a {
			return true
		}
	}
	return false
}

// source chooses the source address of an echo probe to dst out of the
// interface of index idx (see bestSource).
func (at *addrTable) source(idx int, dst netip.Addr) (netip.Addr, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	return bestSource(at.addrs, idx, dst)
}

// bestSource chooses the source address of an echo probe to dst out of
// the interface of index idx: one of that interface's own addresses, never
// another interface's. The kernel, left to choose, takes another
// interface's address when this one has none (IPv4: the first primary
// address of the namespace; IPv6: a global address of any interface beats
// a link-local one), and the replies to such a probe come back through
// the interface that holds the address: the probe then tests the other
// interface's return path (issue 11 item 4). IPv4: a primary address whose
// prefix holds dst, then any address whose prefix holds dst, then a
// primary address, then any. IPv6: for a link-local dst the interface's
// link-local address; else a usable (not tentative, not failed) global
// address whose prefix holds dst, then any usable global one (not
// deprecated first), then the link-local one. An address that is also on
// another interface is never chosen. Among equals the oldest
// address wins: the interface's own address predates a service address
// moved onto it. ok is false when the interface has no address of dst's
// family.
func bestSource(addrs map[addrKey]tableAddr, idx int, dst netip.Addr) (netip.Addr, bool) {
	var best tableAddr
	bestRank := -1
	for _, ta := range addrs {
		if ta.index != idx || ta.local.Is4() != dst.Is4() || elsewhere(addrs, ta) {
			continue
		}
		r := rankSource(ta, dst)
		if r < 0 || r < bestRank {
			continue
		}
		if r > bestRank || ta.created < best.created || ta.created == best.created && ta.local.Less(best.local) {
			best, bestRank = ta, r
		}
	}
	return best.local, bestRank >= 0
}

// elsewhere reports whether ta's address is also on another interface: a
// service address being moved (added to the new member before it leaves
// the old one). Replies to it may come back through either interface, so
// it identifies no return path; and it is about to leave one of them.
func elsewhere(addrs map[addrKey]tableAddr, ta tableAddr) bool {
	for k := range addrs {
		if k.local == ta.local && k.index != ta.index {
			return true
		}
	}
	return false
}

// rankSource ranks a candidate source address for dst: higher is better,
// -1 unusable.
func rankSource(ta tableAddr, dst netip.Addr) int {
	if ta.flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
		return -1
	}
	onLink := netip.PrefixFrom(ta.local, ta.bits).Contains(dst) || ta.peer == dst
	if dst.Is4() {
		r := 0
		if onLink {
			r += 2
		}
		if ta.flags&unix.IFA_F_SECONDARY == 0 {
			r++
		}
		return r
	}
	ll := ta.local.IsLinkLocalUnicast()
	if dst.IsLinkLocalUnicast() {
		if ll {
			return 1
		}
		return -1
	}
	if ll {
		return 0
	}
	if ta.local.IsLoopback() {
		return -1
	}
	r := 1
	if ta.flags&unix.IFA_F_DEPRECATED == 0 {
		r++
	}
	if onLink {
		r += 2
	}
	return r
}

// linkLocalOf returns the lowest usable IPv6 link-local address of
// interface idx in addrs.
func linkLocalOf(addrs map[addrKey]tableAddr, idx int) (netip.Addr, bool) {
	var best netip.Addr
	for _, ta := range addrs {
		if ta.index == idx && ta.local.Is6() && ta.local.IsLinkLocalUnicast() && ta.flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			if !best.IsValid() || ta.local.Less(best) {
				best = ta.local
			}
		}
	}
	return best, best.IsValid()
}

// tableView is a copy of the table, for re-checking many targets without
// holding its lock or scanning every address per target. byLink leaves out
// the addresses that are on two interfaces (see elsewhere).
type tableView struct {
	byName map[string]int
	up     map[int]bool
	local  map[netip.Addr]bool
	byLink map[int]map[addrKey]tableAddr
}

func (at *addrTable) view() *tableView {
	at.mu.Lock()
	defer at.mu.Unlock()
	v := &tableView{byName: make(map[string]int, len(at.links)), up: make(map[int]bool, len(at.links)),
		local: make(map[netip.Addr]bool, len(at.addrs)), byLink: make(map[int]map[addrKey]tableAddr)}
	for idx, l := range at.links {
		v.byName[l.name] = idx
		v.up[idx] = l.up
	}
	links := make(map[netip.Addr]int, len(at.addrs))
	for k := range at.addrs {
		if i, ok := links[k.local]; ok && i != k.index {
			links[k.local] = -1 // on two interfaces: see elsewhere
		} else if !ok {
			links[k.local] = k.index
		}
	}
	for k, ta := range at.addrs {
		v.local[ta.local] = true
		if links[k.local] < 0 {
			continue
		}
		m := v.byLink[k.index]
		if m == nil {
			m = make(map[addrKey]tableAddr)
			v.byLink[k.index] = m
		}
		m[k] = ta
	}
	return v
}
