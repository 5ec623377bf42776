//go:build linux

package netlab_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

func TestPairBuildsWhatItSays(t *testing.T) {
	t.Parallel()
	p := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{
		{Name: "eth3", Addrs: netlab.HostPrefixes(40, 3, true, true), PeerAddrs: netlab.HostPrefixes(40, 1, true, true),
			Veth: &netlab.VethOptions{NICLike: true}},
		{Name: "eth2", Peer: "x2"},
	}})
	require.Nil(t, p.Server)
	require.Len(t, p.Links, 2)
	eth3, eth2 := p.Links[0], p.Links[1]
	require.Equal(t, "peth3", eth3.Peer, "the peer end defaults to p+name")
	require.Equal(t, "x2", eth2.Peer)
	require.Equal(t, eth3.Index, eth3.PeerIndex, "NIC-like: equal indexes")
	require.NotEqual(t, eth2.Index, eth2.PeerIndex)
	require.Equal(t, eth2.Index, p.Index("eth2"))
	require.Zero(t, p.Index("nope"))
	for _, v := range []struct {
		ns    *netlab.NS
		dev   string
		index int
	}{{p.Node, "eth3", eth3.Index}, {p.Node, "eth2", eth2.Index}, {p.Peer, "peth3", eth3.PeerIndex}, {p.Peer, "x2", eth2.PeerIndex}} {
		i, err := v.ns.Index(v.dev)
		require.NoError(t, err)
		require.Equal(t, v.index, i, v.dev)
	}
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("198.18.40.3/24"), netip.MustParsePrefix("2001:db8:28::3/64")}, eth3.Addrs)
	for _, dst := range eth3.PeerAddrs {
		_, err := p.Node.Ping("eth3", dst.Addr(), 2*time.Second)
		require.NoError(t, err, "ping %v", dst)
	}
}

func TestPairWithSwitchAndServer(t *testing.T) {
	t.Parallel()
	p := netlab.NewPair(t, netlab.PairOptions{
		Peer: "sw", StrictARP: true, Bridge: "br0",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: netlab.HostPrefixes(41, 3, true, false)},
			{Name: "eth2", Peer: "p2", Addrs: netlab.HostPrefixes(41, 2, true, false)},
		},
		Server: &netlab.PairLink{Name: "s0", Peer: "ps", Addrs: netlab.HostPrefixes(41, 1, true, false)},
	})
	require.NotNil(t, p.Server)
	v, err := p.Node.ReadSysctl("net/ipv4/conf/all/arp_ignore")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	for _, port := range []string{"p3", "p2", "ps"} {
		l, err := p.Peer.Link(port)
		require.NoError(t, err)
		br, err := p.Peer.Index("br0")
		require.NoError(t, err)
		require.NotNil(t, l.Attributes.Master, "%s has a master", port)
		require.EqualValues(t, br, *l.Attributes.Master, "%s is a port of br0", port)
	}
	// The first link's prefix route comes first: the kernel picks eth3.
	ans, err := p.Node.RouteGet(p.ServerLink.Addrs[0].Addr())
	require.NoError(t, err)
	require.Equal(t, p.Index("eth3"), ans.OutIface)
	for _, dev := range []string{"eth3", "eth2"} {
		_, err := p.Node.Ping(dev, p.ServerLink.Addrs[0].Addr(), 2*time.Second)
		require.NoError(t, err, "server through %s", dev)
	}
	_, err = netlab.New(t).Pair(netlab.PairOptions{Server: &netlab.PairLink{Name: "s0"}})
	require.Error(t, err, "a server needs a bridge")
}

// Several switches in one peer namespace: each link's peer end joins its
// own bridge, each extra server its link's; a server reaches the node
// through its switch only.
func TestPairWithSwitchesAndServers(t *testing.T) {
	t.Parallel()
	p := netlab.NewPair(t, netlab.PairOptions{
		Peer: "sw",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Bridge: "br0", Addrs: netlab.HostPrefixes(42, 3, true, false)},
			{Name: "eth5", Peer: "p5", Bridge: "br1", Addrs: netlab.HostPrefixes(43, 5, true, false)},
		},
		Servers: []netlab.PairServer{
			{NS: "srv1", Link: netlab.PairLink{Name: "s0", Peer: "ps1", Bridge: "br0", Addrs: netlab.HostPrefixes(42, 200, true, false)}},
			{NS: "srv2", Link: netlab.PairLink{Name: "s0", Peer: "ps2", Bridge: "br1", Addrs: netlab.HostPrefixes(43, 200, true, false)}},
		},
	})
	require.Len(t, p.Servers, 2)
	require.Len(t, p.ServerLinks, 2)
	for port, br := range map[string]string{"p3": "br0", "ps1": "br0", "p5": "br1", "ps2": "br1"} {
		l, err := p.Peer.Link(port)
		require.NoError(t, err)
		idx, err := p.Peer.Index(br)
		require.NoError(t, err)
		require.NotNil(t, l.Attributes.Master, "%s has a master", port)
		require.EqualValues(t, idx, *l.Attributes.Master, "%s is a port of %s", port, br)
	}
	for i, dev := range []string{"eth3", "eth5"} {
		_, err := p.Node.Ping(dev, p.ServerLinks[i].Addrs[0].Addr(), 2*time.Second)
		require.NoError(t, err, "server %d through %s", i+1, dev)
	}
	_, err := netlab.New(t).Pair(netlab.PairOptions{Servers: []netlab.PairServer{{NS: "s", Link: netlab.PairLink{Name: "s0"}}}})
	require.Error(t, err, "a server needs a bridge")
}
