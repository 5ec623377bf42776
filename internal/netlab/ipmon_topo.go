//go:build linux

package netlab

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// IPMonPair is a node and a server joined by one veth: node "eth2" and
// server "s0", with IPv4 198.18.<subnet>.2/24 (node) and .1 (server), and
// IPv6 2001:db8:<subnet>::2/64 and ::1. ipmon's tests and benchmarks use it.
type IPMonPair struct {
	Node, Server             *NS
	NodeAddr4, ServerAddr4   netip.Addr
	NodeAddr6, ServerAddr6   netip.Addr
	NodeDev, ServerDev       string
	NodePrefix4, NodePrefix6 netip.Prefix
}

// NewIPMonPair builds an IPMonPair in l. Namespace names get the suffix tag.
func (l *Lab) NewIPMonPair(tag string, subnet byte) (*IPMonPair, error) {
	node, err := l.NewNS("node" + tag)
	if err != nil {
		return nil, err
	}
	srv, err := l.NewNS("srv" + tag)
	if err != nil {
		return nil, err
	}
	p := &IPMonPair{
		Node: node, Server: srv, NodeDev: "eth2", ServerDev: "s0",
		NodePrefix4: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, subnet, 2}), 24),
		NodePrefix6: netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::2/64", subnet)),
	}
	p.NodeAddr4 = p.NodePrefix4.Addr()
	p.ServerAddr4 = netip.AddrFrom4([4]byte{198, 18, subnet, 1})
	p.NodeAddr6 = p.NodePrefix6.Addr()
	p.ServerAddr6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", subnet))
	if err := l.Veth(node, p.NodeDev, srv, p.ServerDev, nil); err != nil {
		return nil, err
	}
	for _, a := range []struct {
		ns  *NS
		dev string
		p   netip.Prefix
	}{
		{node, p.NodeDev, p.NodePrefix4},
		{node, p.NodeDev, p.NodePrefix6},
		{srv, p.ServerDev, netip.PrefixFrom(p.ServerAddr4, 24)},
		{srv, p.ServerDev, netip.PrefixFrom(p.ServerAddr6, 64)},
	} {
		if err := a.ns.AddAddr(a.dev, a.p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// IPMonDual is a node with two interfaces, eth2 and eth3, on one subnet
// through a bridge "br0" in a switch namespace (ports p2 and p3), and a
// server on the same bridge (port ps, server end "s0"). IPv4
// 198.18.<subnet>.2 (eth2), .3 (eth3), .1 (server); IPv6 2001:db8:<subnet>::2,
// ::3 and ::1. eth3 comes up (and gets its addresses) first, as in the CIP
// failure. Strict ARP (arp_ignore=1, arp_announce=2) is set on the node if
// strictARP.
type IPMonDual struct {
	Node, Switch, Server *NS
	Eth2Addr4, Eth3Addr4 netip.Addr
	Eth2Addr6, Eth3Addr6 netip.Addr
	ServerAddr4          netip.Addr
	ServerAddr6          netip.Addr
}

// NewIPMonDual builds an IPMonDual in l. Namespace names get the suffix tag.
func (l *Lab) NewIPMonDual(tag string, subnet byte, strictARP bool) (*IPMonDual, error) {
	return l.newIPMonDual(tag, subnet, strictARP, nil)
}

func (l *Lab) newIPMonDual(tag string, subnet byte, strictARP bool, veth *VethOptions) (*IPMonDual, error) {
	node, err := l.NewNS("node" + tag)
	if err != nil {
		return nil, err
	}
	sw, err := l.NewNS("sw" + tag)
	if err != nil {
		return nil, err
	}
	srv, err := l.NewNS("srv" + tag)
	if err != nil {
		return nil, err
	}
	if err := node.SetStrictARP(strictARP); err != nil {
		return nil, err
	}
	if err := sw.Bridge("br0"); err != nil {
		return nil, err
	}
	d := &IPMonDual{
		Node: node, Switch: sw, Server: srv,
		Eth2Addr4:   netip.AddrFrom4([4]byte{198, 18, subnet, 2}),
		Eth3Addr4:   netip.AddrFrom4([4]byte{198, 18, subnet, 3}),
		ServerAddr4: netip.AddrFrom4([4]byte{198, 18, subnet, 1}),
		Eth2Addr6:   netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::2", subnet)),
		Eth3Addr6:   netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::3", subnet)),
		ServerAddr6: netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", subnet)),
	}
	for _, v := range []struct {
		a     *NS
		aName string
		port  string
		addrs []netip.Addr
	}{
		{node, "eth3", "p3", []netip.Addr{d.Eth3Addr4, d.Eth3Addr6}},
		{node, "eth2", "p2", []netip.Addr{d.Eth2Addr4, d.Eth2Addr6}},
		{srv, "s0", "ps", []netip.Addr{d.ServerAddr4, d.ServerAddr6}},
	} {
		if err := l.Veth(v.a, v.aName, sw, v.port, veth); err != nil {
			return nil, err
		}
		if err := sw.SetMaster(v.port, "br0"); err != nil {
			return nil, err
		}
		for _, a := range v.addrs {
			bits := 24
			if a.Is6() {
				bits = 64
			}
			if err := v.a.AddAddr(v.aName, netip.PrefixFrom(a, bits)); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// AddLocalRoute makes the namespace treat every address of p as its own (a
// "local" route through lo in the main table), so that it answers echo for
// all of them: one server stands in for many targets. (AddRoute cannot
// express it: a local route needs host scope.)
func (n *NS) AddLocalRoute(p netip.Prefix) error {
	return n.exec(func(c *rtnetlink.Conn) error {
		lo, err := getLinkByName(c, "lo")
		if err != nil {
			return err
		}
		rm := &rtnetlink.RouteMessage{
			Family:    unix.AF_INET,
			DstLength: uint8(p.Bits()),
			Table:     unix.RT_TABLE_MAIN,
			Protocol:  unix.RTPROT_STATIC,
			Scope:     unix.RT_SCOPE_HOST,
			Type:      unix.RTN_LOCAL,
			Attributes: rtnetlink.RouteAttributes{
				Dst:      net.IP(p.Masked().Addr().AsSlice()),
				OutIface: lo.Index,
			},
		}
		if p.Addr().Is6() {
			rm.Family = unix.AF_INET6
		}
		if err := c.Route.Add(rm); err != nil {
			return fmt.Errorf("netlab: local route %v in %q: %w", p, n.name, err)
		}
		return nil
	})
}
