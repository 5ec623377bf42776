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
	pr, err := l.Pair(PairOptions{Node: "node" + tag, Peer: "srv" + tag, Links: []PairLink{{
		Name: "eth2", Peer: "s0",
		Addrs:     HostPrefixes(subnet, 2, true, true),
		PeerAddrs: HostPrefixes(subnet, 1, true, true),
	}}})
	if err != nil {
		return nil, err
	}
	link := pr.Links[0]
	return &IPMonPair{
		Node: pr.Node, Server: pr.Peer, NodeDev: link.Name, ServerDev: link.Peer,
		NodePrefix4: link.Addrs[0], NodePrefix6: link.Addrs[1],
		NodeAddr4: link.Addrs[0].Addr(), NodeAddr6: link.Addrs[1].Addr(),
		ServerAddr4: link.PeerAddrs[0].Addr(), ServerAddr6: link.PeerAddrs[1].Addr(),
	}, nil
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
	// eth3 first: it comes up and gets its addresses first.
	pr, err := l.Pair(PairOptions{
		Node: "node" + tag, Peer: "sw" + tag, ServerNS: "srv" + tag, StrictARP: strictARP, Bridge: "br0",
		Links: []PairLink{
			{Name: "eth3", Peer: "p3", Addrs: HostPrefixes(subnet, 3, true, true), Veth: veth},
			{Name: "eth2", Peer: "p2", Addrs: HostPrefixes(subnet, 2, true, true), Veth: veth},
		},
		Server: &PairLink{Name: "s0", Peer: "ps", Addrs: HostPrefixes(subnet, 1, true, true), Veth: veth},
	})
	if err != nil {
		return nil, err
	}
	eth3, eth2 := pr.Links[0].Addrs, pr.Links[1].Addrs
	return &IPMonDual{
		Node: pr.Node, Switch: pr.Peer, Server: pr.Server,
		Eth2Addr4: eth2[0].Addr(), Eth3Addr4: eth3[0].Addr(), ServerAddr4: pr.ServerLink.Addrs[0].Addr(),
		Eth2Addr6: eth2[1].Addr(), Eth3Addr6: eth3[1].Addr(), ServerAddr6: pr.ServerLink.Addrs[1].Addr(),
	}, nil
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
