//go:build linux

package ipmon

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestLabStandbyWithoutAddress: eth2 (a standby) has no address of its own.
// ARP probes (RFC 5227, sender 0.0.0.0) test its IPv4 path and echo from
// its link-local address its IPv6 path; both go down when its bridge port
// is detached and come back when reattached; silence on the server downs
// only the echo kind; the server's neighbour cache learns nothing from the
// ARP probes.
func TestLabStandbyWithoutAddress(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	d, err := lab.NewIPMonDual("", 34, true)
	require.NoError(t, err)
	require.NoError(t, d.Node.DelAddr("eth2", netip.PrefixFrom(d.Eth2Addr4, 24)))
	require.NoError(t, d.Node.DelAddr("eth2", netip.PrefixFrom(d.Eth2Addr6, 64)))

	// With no global address there is no route to the server's global
	// address through eth2: the IPv6 target of a standby is a link-local
	// address (a router's, as discovery proposes).
	srvLL := linkLocal(t, d.Server, "s0")

	p := openIn(t, d.Node, Config{Interval: 30 * time.Millisecond, FailAfter: 3, RecoverAfter: 2, StrictIngress: true})
	w := subscribe(t, p)
	arpT := Target{Addr: d.ServerAddr4, Interface: "eth2", Kind: ARPProbe}
	llT := Target{Addr: srvLL, Interface: "eth2", Kind: LinkLocalEcho}
	require.NoError(t, p.Add(arpT))
	require.NoError(t, p.Add(llT))
	waitBoth := func(want TargetState) {
		t.Helper()
		w.waitKind("eth2", d.ServerAddr4, ARPProbe, want, 10*time.Second)
		w.waitKind("eth2", srvLL, LinkLocalEcho, want, 10*time.Second)
	}
	waitBoth(Up)

	// Nothing learned from the probes: no IPv4 neighbour entry with eth2's
	// hardware address on the server.
	eth2, err := d.Node.Link("eth2")
	require.NoError(t, err)
	c, err := d.Server.Dial()
	require.NoError(t, err)
	neigh, err := c.Neigh.List()
	c.Close()
	require.NoError(t, err)
	for _, n := range neigh {
		if n.Family == unix.AF_INET && n.Attributes != nil {
			require.False(t, bytes.Equal(n.Attributes.LLAddress, eth2.Attributes.Address),
				"server learned %v -> eth2's MAC from an ARP probe", n.Attributes.Address)
		}
	}

	require.NoError(t, d.Switch.SetMaster("p2", ""))
	waitBoth(Down)
	require.NoError(t, d.Switch.SetMaster("p2", "br0"))
	waitBoth(Up)

	require.NoError(t, d.Server.Silence())
	w.waitKind("eth2", srvLL, LinkLocalEcho, Down, 10*time.Second)
	require.NoError(t, d.Server.Unsilence())
	w.waitKind("eth2", srvLL, LinkLocalEcho, Up, 10*time.Second)
	for _, ts := range p.Snapshot().Targets {
		if ts.Target.Kind == ARPProbe {
			require.Equal(t, Up, ts.State)
			require.Zero(t, ts.ConsecutiveMisses)
		}
	}
}

func linkLocal(t *testing.T, ns *netlab.NS, dev string) netip.Addr {
	t.Helper()
	idx, err := ns.Index(dev)
	require.NoError(t, err)
	c, err := ns.Dial()
	require.NoError(t, err)
	defer c.Close()
	addrs, err := c.Address.List()
	require.NoError(t, err)
	for _, am := range addrs {
		if int(am.Index) != idx || am.Attributes == nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(am.Attributes.Address); ok && a.Is6() && a.IsLinkLocalUnicast() {
			return a
		}
	}
	t.Fatalf("no link-local address on %s", dev)
	return netip.Addr{}
}
