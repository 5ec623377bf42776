//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// PairOptions describes the set-up most real-kernel tests share: a node
// namespace joined by one veth per link to a second namespace (a peer, or a
// switch when Bridge is set), and optionally a server namespace on that
// switch. Links are built in order, each with its addresses right after
// its veth, so the first link's prefix routes come first in the node's
// table (the CIP failure's "activated first").
type PairOptions struct {
	// Node and Peer name the two namespaces (default "node" and "peer").
	Node, Peer string

	// Links are the node's veths, in the order they are created.
	Links []PairLink

	// StrictARP sets arp_ignore=1 and arp_announce=2 in the node
	// namespace before any link exists (see NS.SetStrictARP).
	StrictARP bool

	// Bridge makes the peer namespace a switch: a bridge of that name is
	// created there and the peer end of every link (and the server's port)
	// is made its port. Empty: no bridge.
	Bridge string

	// Server, with Bridge, adds a third namespace joined to the bridge:
	// Server.Name is its end, Server.Peer the bridge port. Nil: none.
	Server *PairLink

	// ServerNS names the server namespace (default "srv").
	ServerNS string

	// Servers adds more server namespaces after Server, each joined to
	// its link's bridge (PairLink.Bridge, or Bridge).
	Servers []PairServer
}

// PairServer is one more server of a Pair: a namespace named NS joined to
// a bridge of the peer namespace by Link (Link.Name its end).
type PairServer struct {
	NS   string
	Link PairLink
}

// PairLink is one veth of a Pair.
type PairLink struct {
	// Name is the end in the node namespace (the server's, for
	// PairOptions.Server).
	Name string

	// Peer is the end in the peer namespace (default "p" + Name).
	Peer string

	// Addrs are added to Name, PeerAddrs to Peer, in order.
	Addrs, PeerAddrs []netip.Prefix

	// Veth chooses NIC-like ends, indexes, MACs or admin down (nil:
	// defaults, see VethOptions).
	Veth *VethOptions

	// Bridge, if set, is the bridge of the peer namespace this link's
	// peer end joins instead of PairOptions.Bridge; it is created when
	// first named (several switches in one peer namespace).
	Bridge string
}

// Pair is what NewPair built.
type Pair struct {
	// Lab owns the namespaces.
	Lab *Lab

	// Node and Peer are the two namespaces; Server is nil unless
	// PairOptions.Server was set.
	Node, Peer, Server *NS

	// Links are the node's veths as built, in order.
	Links []PairVeth

	// ServerLink is the server's veth (zero unless PairOptions.Server).
	ServerLink PairVeth

	// Servers and ServerLinks are those of PairOptions.Servers, in order.
	Servers     []*NS
	ServerLinks []PairVeth
}

// PairVeth is a veth of a Pair, with the interface indexes of its ends.
type PairVeth struct {
	// Name and Index are the node's end (the server's, for ServerLink).
	Name  string
	Index int

	// Peer and PeerIndex are the other end (the bridge port, with a
	// bridge).
	Peer      string
	PeerIndex int

	// Addrs and PeerAddrs are the addresses put on the ends.
	Addrs, PeerAddrs []netip.Prefix
}

// Index returns the node-side interface index of the link named name, or 0.
func (p *Pair) Index(name string) int {
	for _, l := range p.Links {
		if l.Name == name {
			return l.Index
		}
	}
	return 0
}

// NewPair opens a lab for t (see New) and builds opts in it; it fails t on
// any error.
func NewPair(t testing.TB, opts PairOptions) *Pair {
	t.Helper()
	p, err := New(t).Pair(opts)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return p
}

// Pair builds opts in l (see PairOptions). Namespaces already in l are
// left alone; the new ones get the names of opts.
func (l *Lab) Pair(opts PairOptions) (*Pair, error) {
	if opts.Server != nil && opts.Bridge == "" {
		return nil, errors.New("netlab: a pair's server needs a bridge")
	}
	names := [3]string{opts.Node, opts.Peer, opts.ServerNS}
	for i, def := range [3]string{"node", "peer", "srv"} {
		if names[i] == "" {
			names[i] = def
		}
	}
	p := &Pair{Lab: l}
	var err error
	if p.Node, err = l.NewNS(names[0]); err != nil {
		return nil, err
	}
	if p.Peer, err = l.NewNS(names[1]); err != nil {
		return nil, err
	}
	if opts.StrictARP {
		if err := p.Node.SetStrictARP(true); err != nil {
			return nil, err
		}
	}
	bridges := map[string]bool{}
	// bridge returns the bridge pl's peer end joins, created if new.
	bridge := func(pl PairLink) (string, error) {
		br := pl.Bridge
		if br == "" {
			br = opts.Bridge
		}
		if br == "" || bridges[br] {
			return br, nil
		}
		bridges[br] = true
		return br, p.Peer.Bridge(br)
	}
	if _, err := bridge(PairLink{}); err != nil {
		return nil, err
	}
	for _, pl := range opts.Links {
		br, err := bridge(pl)
		if err != nil {
			return nil, err
		}
		v, err := l.pairVeth(p.Node, p.Peer, pl, br)
		if err != nil {
			return nil, err
		}
		p.Links = append(p.Links, v)
	}
	// server builds a server namespace on a bridge of the peer.
	server := func(name string, pl PairLink) (*NS, PairVeth, error) {
		br, err := bridge(pl)
		if err != nil {
			return nil, PairVeth{}, err
		}
		if br == "" {
			return nil, PairVeth{}, errors.New("netlab: a pair's server needs a bridge")
		}
		ns, err := l.NewNS(name)
		if err != nil {
			return nil, PairVeth{}, err
		}
		v, err := l.pairVeth(ns, p.Peer, pl, br)
		return ns, v, err
	}
	if opts.Server != nil {
		if p.Server, p.ServerLink, err = server(names[2], *opts.Server); err != nil {
			return nil, err
		}
	}
	for _, ps := range opts.Servers {
		ns, v, err := server(ps.NS, ps.Link)
		if err != nil {
			return nil, err
		}
		p.Servers = append(p.Servers, ns)
		p.ServerLinks = append(p.ServerLinks, v)
	}
	return p, nil
}

// pairVeth builds one link of a Pair: the veth, its bridge port, its
// addresses.
func (l *Lab) pairVeth(a, b *NS, pl PairLink, bridge string) (PairVeth, error) {
	v := PairVeth{Name: pl.Name, Peer: pl.Peer, Addrs: pl.Addrs, PeerAddrs: pl.PeerAddrs}
	if v.Peer == "" {
		v.Peer = "p" + v.Name
	}
	if err := l.Veth(a, v.Name, b, v.Peer, pl.Veth); err != nil {
		return v, err
	}
	if bridge != "" {
		if err := b.SetMaster(v.Peer, bridge); err != nil {
			return v, err
		}
	}
	for _, s := range []struct {
		ns    *NS
		dev   string
		addrs []netip.Prefix
		index *int
	}{{a, v.Name, v.Addrs, &v.Index}, {b, v.Peer, v.PeerAddrs, &v.PeerIndex}} {
		for _, p := range s.addrs {
			if err := s.ns.AddAddr(s.dev, p); err != nil {
				return v, err
			}
		}
		i, err := s.ns.Index(s.dev)
		if err != nil {
			return v, err
		}
		*s.index = i
	}
	return v, nil
}

// HostPrefixes returns the test addresses of host on subnet, as the labs
// number them: 198.18.<subnet>.<host>/24 if v4, 2001:db8:<subnet>::<host>/64
// if v6 (host in hex, as written), in that order.
func HostPrefixes(subnet, host byte, v4, v6 bool) []netip.Prefix {
	var out []netip.Prefix
	if v4 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, subnet, host}), 24))
	}
	if v6 {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::%x/64", subnet, host)))
	}
	return out
}
