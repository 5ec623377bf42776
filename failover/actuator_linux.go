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
	"github.com/mdlayher/packet"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/announce"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// kernelActuator is the kernel's Actuator: addresses, return-path rules and
// routes through rtnetlink, gratuitous ARP through an AF_PACKET socket
// (mdlayher/packet) and unsolicited neighbour advertisements through a raw
// ICMPv6 socket, all in one network namespace. Its methods are safe for
// concurrent use. Errors wrap the kernel's errno (errors.Is(err,
// unix.EPERM), unix.ENODEV, ...).
type kernelActuator struct {
	cfg ActuatorConfig // validated, with defaults

	mu     sync.Mutex
	closed bool
	rt     *rtnetlink.Conn
	arp    map[int]*packet.Conn // per interface index, opened on first use
	na     *ipv6.PacketConn     // opened on first use
	naRaw  *icmp.PacketConn

	// ownNS: cfg.NetNS is our duplicate of the caller's descriptor, closed
	// by Close.
	ownNS bool
	hints driftWatch
}

// openKernel opens the kernel part of an actuator; c is validated and has
// its defaults.
func openKernel(c ActuatorConfig) (*kernelActuator, error) {
	if err := checkCapabilities(); err != nil {
		return nil, err
	}
	ownNS := false
	if c.NetNS > 0 {
		// The caller may close its descriptor (or reuse its number) at
		// any time; sockets opened later must still enter this namespace.
		fd, err := netns.Dup(c.NetNS)
		if err != nil {
			return nil, fmt.Errorf("failover: %w", err)
		}
		c.NetNS, ownNS = fd, true
	}
	rt, err := rtnetlink.Dial(&netlink.Config{NetNS: c.NetNS})
	if err != nil {
		if ownNS {
			unix.Close(c.NetNS)
		}
		return nil, fmt.Errorf("failover: rtnetlink: %w", err)
	}
	return &kernelActuator{cfg: c, rt: rt, arp: map[int]*packet.Conn{}, ownNS: ownNS}, nil
}

// close closes the actuator's sockets and its namespace descriptor, and
// closes the DriftHints channel. It is idempotent. Addresses, rules and
// routes stay.
func (a *kernelActuator) close() error {
	a.hints.stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	if a.ownNS {
		errs = append(errs, unix.Close(a.cfg.NetNS))
	}
	for i, c := range a.arp {
		errs = append(errs, c.Close())
		delete(a.arp, i)
	}
	if a.naRaw != nil {
		errs = append(errs, a.naRaw.Close())
	}
	errs = append(errs, a.rt.Close())
	return errors.Join(errs...)
}

var errActuatorClosed = fmt.Errorf("failover: actuator closed: %w", net.ErrClosed)

// inNetNS runs fn on a thread inside the namespace fd (0: here). The thread
// is never unlocked, so it dies with its goroutine and no other goroutine
// ever runs in the wrong namespace. Sockets fn opens stay in the namespace.
func inNetNS(fd int, fn func() error) error {
	err := netns.Do(fd, fn)
	if ee, ok := err.(*netns.EnterError); ok {
		return fmt.Errorf("failover: enter namespace: %w", ee.Err)
	}
	return err
}

type link struct {
	index int
	mac   net.HardwareAddr
}

// linkLocked looks the interface up by name (the name is authoritative: an
// index can change when an interface is recreated).
func (a *kernelActuator) linkLocked(ifc netpulse.Interface) (link, error) {
	if a.closed {
		return link{}, errActuatorClosed
	}
	msgs, err := a.rt.Execute(&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: ifc.Name}},
		unix.RTM_GETLINK, netlink.Request)
	if err != nil {
		return link{}, fmt.Errorf("failover: interface %s: %w", ifc.Name, err)
	}
	for _, m := range msgs {
		if lm, ok := m.(*rtnetlink.LinkMessage); ok {
			l := link{index: int(lm.Index)}
			if lm.Attributes != nil {
				l.mac = lm.Attributes.Address
			}
			return l, nil
		}
	}
	return link{}, fmt.Errorf("failover: interface %s: no reply: %w", ifc.Name, unix.ENODEV)
}

// addressOf returns the address of m (IPv4-mapped ones as IPv4).
func addressOf(m *rtnetlink.AddressMessage) (netip.Addr, bool) {
	if m.Attributes == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(m.Attributes.Address)
	return a.Unmap(), ok
}

func addressMessage(index int, p netip.Prefix) *rtnetlink.AddressMessage {
	addr := p.Addr()
	am := &rtnetlink.AddressMessage{
		PrefixLength: uint8(p.Bits()),
		Index:        uint32(index),
		Attributes: &rtnetlink.AddressAttributes{
			Address: net.IP(addr.AsSlice()),
		},
	}
	if addr.Is4() {
		am.Family = unix.AF_INET
		am.Attributes.Local = net.IP(addr.AsSlice())
		if p.Bits() < 31 {
			b := addr.As4()
			v := binary.BigEndian.Uint32(b[:]) | ^uint32(0)>>p.Bits()
			bc := make(net.IP, 4)
			binary.BigEndian.PutUint32(bc, v)
			am.Attributes.Broadcast = bc
		}
	} else {
		// No duplicate address detection: the address must be usable at
		// once, and it is ours by configuration.
		am.Family = unix.AF_INET6
		am.Flags = unix.IFA_F_NODAD
		am.Attributes.Flags = unix.IFA_F_NODAD
	}
	return am
}

// addAddress implements Actuator. IPv6 addresses get IFA_F_NODAD.
func (a *kernelActuator) addAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, err := a.linkLocked(ifc)
	if err != nil {
		return err
	}
	if err := a.rt.Address.New(addressMessage(l.index, p)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("failover: add %v on %s: %w", p, ifc.Name, err)
	}
	return nil
}

// removeAddress implements Actuator. An interface that does not exist, or
// does not hold p, is success. When ifc's name no longer exists and
// ifc.Index is set, p is removed from the device at that index: a member
// renamed away keeps its addresses otherwise.
func (a *kernelActuator) removeAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, err := a.linkLocked(ifc)
	if errors.Is(err, unix.ENODEV) {
		if ifc.Index == 0 {
			return nil
		}
		// The name is gone: the device may have been renamed and still
		// hold the address; take it off by the member's last index.
		l, err = link{index: ifc.Index}, nil
	}
	if err != nil {
		return err
	}
	err = a.rt.Address.Delete(addressMessage(l.index, p))
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("failover: remove %v from %s: %w", p, ifc.Name, err)
	}
	return nil
}

// holders returns the interfaces that hold address p (same address and
// prefix length), in index order. A program uses it at start to tell the
// engine where the addresses already are (GroupConfig.Initial).
func (a *kernelActuator) holders(ctx context.Context, p netip.Prefix) ([]netpulse.Interface, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errActuatorClosed
	}
	addrs, err := a.rt.Address.List()
	if err != nil {
		return nil, fmt.Errorf("failover: list addresses: %w", err)
	}
	links, err := a.rt.Link.List()
	if err != nil {
		return nil, fmt.Errorf("failover: list links: %w", err)
	}
	names := map[uint32]string{}
	for _, l := range links {
		if l.Attributes != nil {
			names[l.Index] = l.Attributes.Name
		}
	}
	var out []netpulse.Interface
	for _, m := range addrs {
		if got, ok := addressOf(&m); ok && got == p.Addr() && int(m.PrefixLength) == p.Bits() {
			out = append(out, netpulse.Interface{Index: int(m.Index), Name: names[m.Index]})
		}
	}
	slices.SortFunc(out, func(x, y netpulse.Interface) int { return x.Index - y.Index })
	return out, nil
}

// steerReturn implements Actuator: see ActuatorConfig for the rule and
// table it installs.
func (a *kernelActuator) steerReturn(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	if a.cfg.NoReturnPath {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	l, err := a.linkLocked(ifc)
	if err != nil {
		return err
	}
	table := a.cfg.Markers.ReturnTableBase + uint32(l.index)
	// The on-link routes of the addresses' subnets through ifc, in its
	// table.
	done := map[netip.Prefix]bool{}
	for _, p := range addrs {
		sub := p.Masked()
		if done[sub] {
			continue
		}
		done[sub] = true
		if err := a.rt.Route.Replace(returnRoute(sub, l.index, table, a.cfg.Markers.ReturnProtocol)); err != nil {
			return fmt.Errorf("failover: return route %v via %s (table %d): %w", sub, ifc.Name, table, err)
		}
	}
	// One rule per address pointing at that table. The new rule is added
	// before the old one is deleted, so that replies are never without a
	// rule; while both exist the old one wins (rules of one priority are
	// tried in the order they were added), and the delete switches over.
	// The on-link route in a former member's table is left in place: no
	// rule of these addresses points there any more, and another group's
	// addresses on that member may still use it.
	// One dump of the rules for every address: a move pays one.
	rules, err := a.rulesFor(addrs)
	if err != nil {
		return err
	}
	for _, p := range addrs {
		var stale []rtnetlink.RuleMessage
		have := false
		for _, r := range rules[p.Addr()] {
			if r.Attributes.Table != nil && *r.Attributes.Table == table && !have {
				have = true
				continue
			}
			stale = append(stale, r)
		}
		if !have {
			if err := a.rt.Rule.Add(returnRule(p.Addr(), a.cfg.Markers.RulePriority, table, a.cfg.Markers.ReturnProtocol)); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("failover: return rule from %v to table %d: %w", p.Addr(), table, err)
			}
		}
		for i := range stale {
			if err := a.rt.Rule.Delete(&stale[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("failover: delete return rule for %v: %w", p.Addr(), err)
			}
		}
	}
	return nil
}

// rulesFor returns our rules (our priority, source exactly one of addrs'
// addresses) by source, from one dump.
func (a *kernelActuator) rulesFor(addrs []netip.Prefix) (map[netip.Addr][]rtnetlink.RuleMessage, error) {
	all, err := a.rt.Rule.List()
	if err != nil {
		return nil, fmt.Errorf("failover: list rules: %w", err)
	}
	out := make(map[netip.Addr][]rtnetlink.RuleMessage, len(addrs))
	for _, r := range all {
		if r.Attributes == nil || r.Attributes.Priority == nil || *r.Attributes.Priority != a.cfg.Markers.RulePriority || r.Attributes.Src == nil {
			continue
		}
		s, ok := netip.AddrFromSlice(*r.Attributes.Src)
		if !ok || int(r.SrcLength) != s.Unmap().BitLen() {
			continue
		}
		s = s.Unmap()
		if slices.ContainsFunc(addrs, func(p netip.Prefix) bool { return p.Addr() == s }) {
			out[s] = append(out[s], r)
		}
	}
	return out, nil
}

func returnRoute(sub netip.Prefix, index int, table uint32, proto uint8) *rtnetlink.RouteMessage {
	rm := &rtnetlink.RouteMessage{
		Family:    unix.AF_INET,
		DstLength: uint8(sub.Bits()),
		Table:     unix.RT_TABLE_UNSPEC,
		Protocol:  proto,
		Scope:     unix.RT_SCOPE_LINK,
		Type:      unix.RTN_UNICAST,
		Attributes: rtnetlink.RouteAttributes{
			Dst:      net.IP(sub.Addr().AsSlice()),
			OutIface: uint32(index),
			Table:    table,
		},
	}
	if sub.Addr().Is6() {
		rm.Family = unix.AF_INET6
		rm.Scope = unix.RT_SCOPE_UNIVERSE
	}
	return rm
}

func returnRule(addr netip.Addr, prio, table uint32, proto uint8) *rtnetlink.RuleMessage {
	src := net.IP(addr.AsSlice())
	fam := uint8(unix.AF_INET)
	if addr.Is6() {
		fam = unix.AF_INET6
	}
	return &rtnetlink.RuleMessage{
		Family:    fam,
		SrcLength: uint8(addr.BitLen()),
		Table:     unix.RT_TABLE_UNSPEC,
		Action:    unix.FR_ACT_TO_TBL,
		Attributes: &rtnetlink.RuleAttributes{
			Src:      &src,
			Priority: &prio,
			Table:    &table,
			Protocol: &proto,
		},
	}
}

// announce implements Actuator: one gratuitous ARP request (RFC 5227
// announcement: sender and target address both the address, target
// hardware address zero, to the broadcast address) per IPv4 address, and
// one unsolicited neighbour advertisement (override flag, target
// link-layer address option, hop limit 255, to ff02::1, from the address
// itself) per IPv6 address.
func (a *kernelActuator) announce(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, err := a.linkLocked(ifc)
	if err != nil {
		return err
	}
	if len(l.mac) != 6 {
		return fmt.Errorf("failover: announce on %s: no Ethernet address (%v)", ifc.Name, l.mac)
	}
	var errs []error
	for _, p := range addrs {
		errs = append(errs, a.send(ifc, l, p.Addr()))
	}
	return errors.Join(errs...)
}

// send announces addr on l: gratuitous ARP for IPv4, unsolicited neighbour
// advertisement for IPv6.
func (a *kernelActuator) send(ifc netpulse.Interface, l link, addr netip.Addr) error {
	if addr.Is4() {
		return a.sendARP(ifc, l, addr)
	}
	return a.sendNA(ifc, l, addr)
}

var broadcast = packet.Addr{HardwareAddr: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}

func (a *kernelActuator) sendARP(ifc netpulse.Interface, l link, addr netip.Addr) error {
	body := announce.ARPAnnouncement(l.mac, addr)
	for try := 0; try < 2; try++ {
		c := a.arp[l.index]
		if c == nil {
			err := inNetNS(a.cfg.NetNS, func() error {
				var err error
				// Send only: a filter that accepts nothing keeps the
				// receive queue empty.
				drop, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
				c, err = packet.Listen(&net.Interface{Index: l.index, Name: ifc.Name}, packet.Datagram, unix.ETH_P_ARP,
					&packet.Config{Filter: drop})
				return err
			})
			if err != nil {
				return fmt.Errorf("failover: AF_PACKET socket on %s: %w", ifc.Name, err)
			}
			a.arp[l.index] = c
		}
		if _, err := c.WriteTo(body, &broadcast); err != nil {
			// The interface may have been recreated: reopen once.
			c.Close()
			delete(a.arp, l.index)
			if try == 1 {
				return fmt.Errorf("failover: gratuitous ARP for %v on %s: %w", addr, ifc.Name, err)
			}
			continue
		}
		return nil
	}
	return nil
}

var allNodes = &net.IPAddr{IP: net.ParseIP("ff02::1")}

func (a *kernelActuator) sendNA(ifc netpulse.Interface, l link, addr netip.Addr) error {
	if a.na == nil {
		err := inNetNS(a.cfg.NetNS, func() error {
			c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
			if err != nil {
				return err
			}
			p := c.IPv6PacketConn()
			var f ipv6.ICMPFilter
			f.SetAll(true) // send only
			if err := p.SetICMPFilter(&f); err != nil {
				c.Close()
				return err
			}
			if err := p.SetMulticastHopLimit(255); err != nil {
				c.Close()
				return err
			}
			a.naRaw, a.na = c, p
			return nil
		})
		if err != nil {
			return fmt.Errorf("failover: ICMPv6 socket: %w", err)
		}
	}
	cm := &ipv6.ControlMessage{HopLimit: 255, Src: net.IP(addr.AsSlice()), IfIndex: l.index}
	if _, err := a.na.WriteTo(announce.NeighborAdvertisement(l.mac, addr), cm, allNodes); err != nil {
		return fmt.Errorf("failover: neighbour advertisement for %v on %s: %w", addr, ifc.Name, err)
	}
	return nil
}
