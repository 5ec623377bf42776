//go:build linux

package route

import (
	"context"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"golang.org/x/sys/unix"
)

// rtmFCloned marks a cached (cloned) route; dumps of the FIB omit them but
// notifications may carry them.
const rtmFCloned = 0x200

// nlmFDumpIntr is set in a dump reply when the table changed during the
// dump.
const nlmFDumpIntr = 0x10

// maxDumpTries bounds the retries of an interrupted dump.
const maxDumpTries = 10

// viewKernel is the Linux part of a View: its sockets and its reader
// goroutine.
type viewKernel struct {
	sockMu sync.Mutex // guards sub, which an overrun replaces
	sub    *netlink.Conn
	req    *netlink.Conn
	closed atomic.Bool
	once   sync.Once
	done   chan struct{}
	wg     sync.WaitGroup

	// nsFD is the view's own duplicate of cfg.NetNS (0: the caller's
	// namespace), closed by Close; cfg.NetNS holds it too.
	nsFD int
	// filt is a request socket with strict checking, for dumps filtered
	// by output interface.
	filt *netlink.Conn
	// Refresh state, owned by the reader goroutine.
	pend refreshState
}

// open subscribes, dumps and starts the reader goroutine.
func (v *View) open(ctx context.Context) error {
	v.done = make(chan struct{})
	// Work on a duplicate of the caller's descriptor: the caller may close
	// its own (or its number may be reused for another namespace) while
	// the view still needs it to re-subscribe.
	if v.cfg.NetNS != 0 {
		fd, err := dupNetNS(v.cfg.NetNS)
		if err != nil {
			return err
		}
		v.nsFD, v.cfg.NetNS = fd, fd
	}
	var err error
	// Subscribe first, then dump: a change between the two is then seen.
	v.sub, err = v.subscribe()
	if err != nil {
		closeNetNS(&v.nsFD)
		return err
	}
	v.req, err = netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: v.cfg.NetNS, Strict: false})
	if err != nil {
		v.sub.Close()
		closeNetNS(&v.nsFD)
		return wrapErr("dial", err)
	}
	v.filt, err = netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: v.cfg.NetNS, Strict: true})
	if err != nil {
		v.sub.Close()
		v.req.Close()
		closeNetNS(&v.nsFD)
		return wrapErr("dial", err)
	}
	if err := ctx.Err(); err != nil {
		v.closeSockets()
		return err
	}
	if err := v.dump(); err != nil {
		v.closeSockets()
		return err
	}
	v.wg.Add(1)
	go v.run()
	return nil
}

// subscribe opens a socket subscribed to the groups the view follows.
func (v *View) subscribe() (*netlink.Conn, error) {
	groups := uint32(0)
	for _, g := range []uint32{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_NETCONF, unix.RTNLGRP_IPV6_NETCONF} {
		groups |= 1 << (g - 1)
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: groups, NetNS: v.cfg.NetNS})
	if err != nil {
		return nil, wrapErr("subscribe", err)
	}
	if v.cfg.ReadBuffer > 0 {
		if err := c.SetReadBuffer(v.cfg.ReadBuffer); err != nil {
			c.Close()
			return nil, wrapErr("set read buffer", err)
		}
	}
	return c, nil
}

// resubscribe replaces the notification socket after an overrun or an error. The
// kernel marks an overrun socket congested and then drops notifications
// without reporting ENOBUFS again until its queue has been read empty,
// which a busy table may never allow: a fresh socket has no such state.
// It reports false when the view is closing, and the error that kept the
// old socket in place.
func (v *View) resubscribe() (bool, error) {
	fresh, err := v.subscribe()
	v.sockMu.Lock()
	defer v.sockMu.Unlock()
	if v.closed.Load() {
		if fresh != nil {
			fresh.Close()
		}
		return false, nil
	}
	if err != nil {
		// Keep the old socket: it still works, only less reliably.
		v.log.Error("route: resubscribe", "err", err)
		return true, err
	}
	v.sub.Close()
	v.sub = fresh
	return true, nil
}

func (v *View) subConn() *netlink.Conn {
	v.sockMu.Lock()
	defer v.sockMu.Unlock()
	return v.sub
}

// closeKernel stops the reader goroutine and closes the sockets.
func (v *View) closeKernel() {
	v.once.Do(func() {
		v.sockMu.Lock()
		v.closed.Store(true)
		close(v.done)
		v.sub.Close()
		v.sockMu.Unlock()
		v.wg.Wait()
		v.req.Close()
		v.filt.Close()
		closeNetNS(&v.nsFD)
	})
}

// Backoff between attempts to replace a notification socket that fails
// with an error other than an overrun.
const (
	minReceiveBackoff = 10 * time.Millisecond
	maxReceiveBackoff = 5 * time.Second
)

// dumpOn runs one dump request on c, retrying while it is interrupted.
func (v *View) dumpOn(c *netlink.Conn, typ netlink.HeaderType, body []byte) ([]netlink.Message, error) {
	for try := 0; ; try++ {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Dump},
			Data:   body,
		})
		if err != nil {
			return nil, err
		}
		intr := false
		for _, m := range msgs {
			if m.Header.Flags&nlmFDumpIntr != 0 {
				intr = true
			}
		}
		if !intr {
			return msgs, nil
		}
		v.dumpRetries.Add(1)
		if try >= maxDumpTries {
			return nil, fmt.Errorf("route: dump interrupted %d times", try+1)
		}
	}
}

// dump reads links, addresses and routes and replaces the tables.
func (v *View) dump() error {
	v.dumps.Add(1)
	lb, _ := (&rtnetlink.LinkMessage{}).MarshalBinary()
	lmsgs, err := v.dumpOn(v.req, unix.RTM_GETLINK, lb)
	if err != nil {
		return wrapErr("dump links", err)
	}
	ab, _ := (&rtnetlink.AddressMessage{}).MarshalBinary()
	amsgs, err := v.dumpOn(v.req, unix.RTM_GETADDR, ab)
	if err != nil {
		return wrapErr("dump addresses", err)
	}
	rb, _ := (&rtnetlink.RouteMessage{}).MarshalBinary()
	rmsgs, err := v.dumpOn(v.req, unix.RTM_GETROUTE, rb)
	if err != nil {
		return wrapErr("dump routes", err)
	}
	tables := map[uint32]*Table{}
	for _, id := range v.cfg.Tables {
		t := NewTable()
		t.pref = slices.Clone(v.cfg.Prefer)
		tables[id] = t
	}
	for _, m := range lmsgs {
		var lm rtnetlink.LinkMessage
		if m.Header.Type != unix.RTM_NEWLINK || lm.UnmarshalBinary(m.Data) != nil {
			continue
		}
		l := decodeLink(&lm)
		for _, t := range tables {
			t.links[l.Index] = l
		}
	}
	for _, t := range tables {
		t.rerank()
	}
	for _, m := range amsgs {
		var am rtnetlink.AddressMessage
		if m.Header.Type != unix.RTM_NEWADDR || am.UnmarshalBinary(m.Data) != nil {
			continue
		}
		a, ok := decodeAddr(&am)
		if !ok {
			continue
		}
		for _, t := range tables {
			if l, ok := t.links[a.Interface.Index]; ok {
				a.Interface.Name = l.Name
			}
			t.AddAddress(a)
		}
	}
	for r := range routesIn(rmsgs) {
		if t := tables[r.Table]; t != nil {
			// Dump order is the kernel's order within a prefix (an
			// identical route listed twice, as an IPv6 dump taken
			// while routes change can do, is kept once).
			t.insert(r, appendPos)
		}
	}
	v.mu.Lock()
	v.tables = tables
	v.first = tables[v.cfg.Tables[0]]
	v.mu.Unlock()
	return nil
}

func ipAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return a, false
	}
	return a.Unmap(), true
}

// decodeRoute converts a route message; ok is false for cached clones,
// families other than IPv4 and IPv6, and a destination the message's
// family cannot hold (found by FuzzDecodeRoute).
func decodeRoute(rm *rtnetlink.RouteMessage) (Route, bool) {
	if rm.Flags&rtmFCloned != 0 {
		return Route{}, false
	}
	var zero netip.Addr
	switch rm.Family {
	case unix.AF_INET:
		zero = netip.IPv4Unspecified()
	case unix.AF_INET6:
		zero = netip.IPv6Unspecified()
	default:
		return Route{}, false
	}
	dst := zero
	if a, ok := ipAddr(rm.Attributes.Dst); ok {
		dst = a
		if rm.Family == unix.AF_INET6 {
			dst = netip.AddrFrom16(dst.As16())
		} else if !dst.Is4() {
			return Route{}, false // an IPv6 destination in an IPv4 route
		}
	}
	if int(rm.DstLength) > dst.BitLen() {
		return Route{}, false
	}
	r := Route{
		Dst:      netip.PrefixFrom(dst, int(rm.DstLength)).Masked(),
		Table:    uint32(rm.Table),
		Metric:   rm.Attributes.Priority,
		Protocol: Protocol(rm.Protocol),
		Scope:    Scope(rm.Scope),
		Type:     Type(rm.Type),
		Tos:      rm.Tos,
		SrcLen:   rm.SrcLength,
	}
	if rm.Attributes.Table != 0 {
		r.Table = rm.Attributes.Table
	}
	if a, ok := ipAddr(rm.Attributes.Src); ok {
		r.Src = a
	}
	if len(rm.Attributes.Multipath) > 0 {
		for _, nh := range rm.Attributes.Multipath {
			n := Nexthop{Interface: netpulse.Interface{Index: int(nh.Hop.IfIndex)}, Flags: NexthopFlags(nh.Hop.Flags), Weight: int(nh.Hop.Hops) + 1}
			if a, ok := ipAddr(nh.Gateway); ok {
				n.Gateway = a
			}
			r.Nexthops = append(r.Nexthops, n)
		}
	} else if rm.Attributes.OutIface != 0 || rm.Attributes.Gateway != nil {
		n := Nexthop{Interface: netpulse.Interface{Index: int(rm.Attributes.OutIface)}, Flags: NexthopFlags(rm.Flags & 0xff), Weight: 1}
		if a, ok := ipAddr(rm.Attributes.Gateway); ok {
			n.Gateway = a
		}
		r.Nexthops = []Nexthop{n}
	}
	return r, true
}

// routesIn yields the routes of a route dump's messages (those that do not
// decode, or that decodeRoute leaves out, are skipped).
func routesIn(msgs []netlink.Message) iter.Seq[Route] {
	return func(yield func(Route) bool) {
		for _, m := range msgs {
			var rm rtnetlink.RouteMessage
			if m.Header.Type != unix.RTM_NEWROUTE || rm.UnmarshalBinary(m.Data) != nil {
				continue
			}
			if r, ok := decodeRoute(&rm); ok && !yield(r) {
				return
			}
		}
	}
}

// decodeLink returns the link a link message describes.
func decodeLink(lm *rtnetlink.LinkMessage) Link {
	l := Link{Interface: netpulse.Interface{Index: int(lm.Index)}, Up: lm.Flags&unix.IFF_UP != 0, Carrier: lm.Flags&unix.IFF_LOWER_UP != 0}
	if lm.Attributes != nil {
		l.Name = lm.Attributes.Name
	}
	return l
}

func decodeAddr(am *rtnetlink.AddressMessage) (Address, bool) {
	if am.Attributes == nil {
		return Address{}, false
	}
	ip := am.Attributes.Local
	if ip == nil {
		ip = am.Attributes.Address
	}
	a, ok := ipAddr(ip)
	if !ok {
		return Address{}, false
	}
	switch {
	case am.Family == unix.AF_INET6:
		a = netip.AddrFrom16(a.As16())
	case am.Family != unix.AF_INET || !a.Is4():
		return Address{}, false
	}
	if int(am.PrefixLength) > a.BitLen() {
		return Address{}, false // found by FuzzDecodeAddress
	}
	flags := uint32(am.Flags)
	if am.Attributes.Flags != 0 {
		flags = am.Attributes.Flags
	}
	return Address{Prefix: netip.PrefixFrom(a, int(am.PrefixLength)), Interface: netpulse.Interface{Index: int(am.Index)}, Scope: Scope(am.Scope), Flags: flags}, true
}

// encodeRoute builds the message that adds or deletes r.
func encodeRoute(r *Route) *rtnetlink.RouteMessage {
	rm := &rtnetlink.RouteMessage{
		Family:    unix.AF_INET6,
		DstLength: uint8(r.Dst.Bits()),
		Tos:       r.Tos,
		Protocol:  uint8(r.Protocol),
		Scope:     uint8(r.Scope),
		Type:      uint8(r.Type),
		Attributes: rtnetlink.RouteAttributes{
			Dst:      net.IP(r.Dst.Addr().AsSlice()),
			Priority: r.Metric,
		},
	}
	if r.Dst.Addr().Is4() {
		rm.Family = unix.AF_INET
	}
	if r.Table < 256 {
		rm.Table = uint8(r.Table)
	} else {
		rm.Table = unix.RT_TABLE_UNSPEC
		rm.Attributes.Table = r.Table
	}
	if r.Src.IsValid() {
		rm.Attributes.Src = net.IP(r.Src.AsSlice())
	}
	switch len(r.Nexthops) {
	case 0:
	case 1:
		nh := r.Nexthops[0]
		rm.Attributes.OutIface = uint32(nh.Interface.Index)
		if nh.Gateway.IsValid() {
			rm.Attributes.Gateway = net.IP(nh.Gateway.AsSlice())
		}
		rm.Flags = uint32(nh.Flags & FlagOnlink)
	default:
		for _, nh := range r.Nexthops {
			n := rtnetlink.NextHop{Hop: rtnetlink.RTNextHop{IfIndex: uint32(nh.Interface.Index), Flags: uint8(nh.Flags & FlagOnlink)}}
			if nh.Weight > 1 {
				n.Hop.Hops = uint8(nh.Weight - 1)
			}
			if nh.Gateway.IsValid() {
				n.Gateway = net.IP(nh.Gateway.AsSlice())
			}
			rm.Attributes.Multipath = append(rm.Attributes.Multipath, n)
		}
	}
	return rm
}

// cfgNetlink returns a netlink configuration for the view's namespace.
func (v *View) cfgNetlink() *netlink.Config { return &netlink.Config{NetNS: v.cfg.NetNS} }
