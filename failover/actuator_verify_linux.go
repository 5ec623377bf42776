//go:build linux

package failover

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// verify implements Verifier: it lists the addresses of the namespace
// (missing ones are reported) and, for each address that is present, asks
// the kernel which route a packet from it to its subnet would take (`ip
// route get SUBNET-HOST from ADDR fibmatch`): the return path is complete
// when that is the on-link route in ifc's return table.
func (a *kernelActuator) verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (Drift, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var d Drift
	l, err := a.linkLocked(ifc)
	if err != nil {
		return d, err
	}
	all, err := a.rt.Address.List()
	if err != nil {
		return d, fmt.Errorf("failover: list addresses: %w", err)
	}
	local := map[netip.Addr]bool{}
	have := map[netip.Prefix]bool{}
	for _, m := range all {
		got, ok := addressOf(&m)
		if !ok {
			continue
		}
		local[got] = true
		if int(m.Index) == l.index {
			have[netip.PrefixFrom(got, int(m.PrefixLength))] = true
		}
	}
	table := a.cfg.Markers.ReturnTableBase + uint32(l.index)
	for _, p := range addrs {
		if !have[p] {
			d.Addresses = append(d.Addresses, p)
			continue
		}
		if a.cfg.NoReturnPath || d.ReturnPath {
			continue
		}
		dst, ok := subnetHost(p, local)
		if !ok {
			continue // a subnet of local addresses only: no return path to check
		}
		ok, err := a.returnPathOK(p.Addr(), dst, table, l.index)
		if err != nil {
			return d, err
		}
		d.ReturnPath = !ok
	}
	return d, nil
}

// subnetHost returns an address of p's subnet that is not local, to ask
// the kernel how replies to the subnet would leave.
func subnetHost(p netip.Prefix, local map[netip.Addr]bool) (netip.Addr, bool) {
	a := p.Masked().Addr().Next()
	for i := 0; i < 64 && a.IsValid() && p.Contains(a); i, a = i+1, a.Next() {
		if !local[a] && (a.Is6() || p.Bits() >= 31 || a.Next().IsValid() && p.Contains(a.Next())) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (a *kernelActuator) returnPathOK(src, dst netip.Addr, table uint32, index int) (bool, error) {
	rm := &rtnetlink.RouteMessage{
		Family:    unix.AF_INET,
		DstLength: 32,
		SrcLength: 32,
		// The table of the route found (LOOKUP_TABLE; without it IPv4
		// reports the cached route's table, main), the FIB entry itself
		// (FIB_MATCH).
		Flags:      unix.RTM_F_FIB_MATCH | unix.RTM_F_LOOKUP_TABLE,
		Attributes: rtnetlink.RouteAttributes{Dst: net.IP(dst.AsSlice())},
	}
	if dst.Is6() {
		rm.Family, rm.DstLength, rm.SrcLength = unix.AF_INET6, 128, 128
	}
	msgs, err := a.rt.Execute(routeGet{rm, src}, unix.RTM_GETROUTE, netlink.Request)
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return false, nil
		}
		return false, fmt.Errorf("failover: route get %v from %v: %w", dst, src, err)
	}
	for _, m := range msgs {
		if r, ok := m.(*rtnetlink.RouteMessage); ok {
			return r.Attributes.Table == table && int(r.Attributes.OutIface) == index, nil
		}
	}
	return false, nil
}

// routeGet is a route request with RTA_SRC: the source the lookup (and
// the policy rules) see. rtnetlink's RouteAttributes.Src is RTA_PREFSRC,
// which the kernel's RTM_GETROUTE ignores.
type routeGet struct {
	*rtnetlink.RouteMessage
	src netip.Addr
}

func (r routeGet) MarshalBinary() ([]byte, error) {
	b, err := r.RouteMessage.MarshalBinary()
	if err != nil {
		return nil, err
	}
	a := r.src.AsSlice()
	attr := make([]byte, 4+len(a)) // IPv4 8, IPv6 20 bytes: aligned
	binary.NativeEndian.PutUint16(attr[0:], uint16(len(attr)))
	binary.NativeEndian.PutUint16(attr[2:], unix.RTA_SRC)
	copy(attr[4:], a)
	return append(b, attr...), nil
}

// sweep removes the return-path rules (priority Markers.RulePriority or protocol
// Markers.ReturnProtocol, pointing into the return tables) whose source is not
// one of keep, and the marked routes of return tables that no remaining
// rule points to: what an earlier run left behind for addresses it no
// longer manages. A program calls it once at start, before the engine.
// It returns how many rules and routes it removed.
func (a *kernelActuator) sweep(ctx context.Context, keep []netip.Prefix) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return 0, errActuatorClosed
	}
	kept := map[netip.Addr]bool{}
	for _, p := range keep {
		kept[p.Addr()] = true
	}
	ours := func(t uint32) bool { return returnTable(t, a.cfg.Markers.ReturnTableBase) }
	rules, err := a.rt.Rule.List()
	if err != nil {
		return 0, fmt.Errorf("failover: list rules: %w", err)
	}
	removed := 0
	used := map[uint32]bool{}
	for i := range rules {
		r := &rules[i]
		at := r.Attributes
		if at == nil || at.Table == nil || !ours(*at.Table) {
			continue
		}
		mine := (at.Priority != nil && *at.Priority == a.cfg.Markers.RulePriority) || (at.Protocol != nil && *at.Protocol == a.cfg.Markers.ReturnProtocol)
		if !mine {
			continue
		}
		if at.Src != nil {
			if s, ok := netip.AddrFromSlice(*at.Src); ok && kept[s.Unmap()] {
				used[*at.Table] = true
				continue
			}
		}
		if err := a.rt.Rule.Delete(r); err != nil && !errors.Is(err, unix.ENOENT) {
			return removed, fmt.Errorf("failover: delete stale return rule: %w", err)
		}
		removed++
	}
	routes, err := a.rt.Route.List()
	if err != nil {
		return removed, fmt.Errorf("failover: list routes: %w", err)
	}
	for i := range routes {
		r := &routes[i]
		t := r.Attributes.Table
		if !ours(t) || used[t] || r.Protocol != a.cfg.Markers.ReturnProtocol {
			continue
		}
		if err := a.rt.Route.Delete(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			return removed, fmt.Errorf("failover: delete stale return route: %w", err)
		}
		removed++
	}
	return removed, nil
}

// returnTable reports whether t is one of the return tables from base on
// (base plus an interface index).
func returnTable(t, base uint32) bool { return t >= base && t-base < 1<<20 }

// driftWatch follows the kernel's address and rule notifications for
// DriftHints: one socket and goroutine per DriftHints call, until its
// context is done or the actuator is closed.
type driftWatch struct {
	mu      sync.Mutex
	stopped bool // the actuator is closed: no new watch
	conns   map[*netlink.Conn]bool
	wg      sync.WaitGroup
}

// deletionsOnly is a classic BPF filter for the notification socket: only
// RTM_DELADDR and RTM_DELRULE reach user space, so that the addresses and
// rules a move adds wake nobody (the filter reads nlmsg_type, in host byte
// order, with a big-endian load).
func deletionsOnly() ([]bpf.RawInstruction, error) {
	be := func(t uint16) uint32 {
		var b [2]byte
		binary.NativeEndian.PutUint16(b[:], t)
		return uint32(binary.BigEndian.Uint16(b[:]))
	}
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: be(unix.RTM_DELADDR), SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: be(unix.RTM_DELRULE), SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
}

// driftHints follows the deletions of addresses and rules with a socket of
// its own.
func (a *kernelActuator) driftHints(ctx context.Context) <-chan DriftHint {
	w := &a.hints
	ch := make(chan DriftHint, hintBuffer)
	groups := uint32(unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | 1<<(unix.RTNLGRP_IPV4_RULE-1) | 1<<(unix.RTNLGRP_IPV6_RULE-1))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || ctx.Err() != nil {
		close(ch)
		return ch
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: a.cfg.NetNS, Groups: groups})
	if err != nil {
		close(ch)
		return ch
	}
	if f, err := deletionsOnly(); err == nil {
		_ = c.SetBPF(f) // without it every notification is looked at
	}
	if w.conns == nil {
		w.conns = map[*netlink.Conn]bool{}
	}
	w.conns[c] = true
	w.wg.Add(1)
	go w.run(c, ch, a.cfg.Markers.ReturnTableBase)
	context.AfterFunc(ctx, func() { w.drop(c) })
	return ch
}

// hintBuffer is the capacity of a DriftHints channel; a hint that does not
// fit is sent as a Lost hint with the next one that does.
const hintBuffer = 64

// hintOf returns the hint for a deletion notification, if it may concern
// the actuator: any deleted address; a deleted rule pointing into the
// return tables from base on.
func hintOf(m netlink.Message, base uint32) (DriftHint, bool) {
	switch m.Header.Type {
	case unix.RTM_DELADDR:
		var am rtnetlink.AddressMessage
		if err := am.UnmarshalBinary(m.Data); err != nil {
			return DriftHint{Lost: true}, true
		}
		addr, ok := addressOf(&am)
		if !ok {
			return DriftHint{Lost: true}, true
		}
		return DriftHint{Interface: netpulse.Interface{Index: int(am.Index)}, Address: addr}, true
	case unix.RTM_DELRULE:
		var rm rtnetlink.RuleMessage
		if err := rm.UnmarshalBinary(m.Data); err != nil || rm.Attributes == nil {
			return DriftHint{Lost: true}, true
		}
		at := rm.Attributes
		if at.Table == nil || !returnTable(*at.Table, base) || at.Src == nil {
			return DriftHint{}, false // not a return-path rule
		}
		src, ok := netip.AddrFromSlice(*at.Src)
		if !ok {
			return DriftHint{Lost: true}, true
		}
		return DriftHint{Interface: netpulse.Interface{Index: int(*at.Table - base)}, Address: src.Unmap()}, true
	}
	return DriftHint{}, false
}

func (w *driftWatch) run(c *netlink.Conn, ch chan DriftHint, base uint32) {
	defer w.wg.Done()
	defer close(ch)
	lost := false // a hint did not fit: send a Lost one first
	send := func(h DriftHint) {
		if lost {
			select {
			case ch <- DriftHint{Lost: true}:
				lost = false
			default:
				return
			}
		}
		select {
		case ch <- h:
		default:
			lost = true
		}
	}
	for {
		nm, err := c.Receive()
		w.mu.Lock()
		live := w.conns[c]
		w.mu.Unlock()
		if !live {
			return
		}
		if err != nil {
			if !errors.Is(err, unix.ENOBUFS) {
				w.drop(c)
				return
			}
			send(DriftHint{Lost: true}) // lost notifications: check
		}
		for _, m := range nm {
			if h, ok := hintOf(m, base); ok {
				send(h)
			}
		}
	}
}

// drop closes one watch's socket, which ends its goroutine.
func (w *driftWatch) drop(c *netlink.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns[c] {
		delete(w.conns, c)
		c.Close()
	}
}

// stop closes every watch and waits for their goroutines.
func (w *driftWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	for c := range w.conns {
		delete(w.conns, c)
		c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// announceOwn implements SelfAnnouncer: one gratuitous ARP per IPv4
// address and one unsolicited NA per global IPv6 address that ifc holds
// (not tentative, not failed DAD), except those in except.
func (a *kernelActuator) announceOwn(ctx context.Context, ifc netpulse.Interface, except []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, err := a.linkLocked(ifc)
	if err != nil {
		return err
	}
	if len(l.mac) != 6 {
		return nil // not Ethernet: nothing to announce
	}
	all, err := a.rt.Address.List()
	if err != nil {
		return fmt.Errorf("failover: list addresses: %w", err)
	}
	var errs []error
	for _, m := range all {
		addr, ok := addressOf(&m)
		if !ok || int(m.Index) != l.index || m.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		flags := m.Attributes.Flags | uint32(m.Flags)
		if flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		if slices.ContainsFunc(except, func(p netip.Prefix) bool { return p.Addr() == addr }) {
			continue
		}
		errs = append(errs, a.send(ifc, l, addr))
	}
	return errors.Join(errs...)
}
