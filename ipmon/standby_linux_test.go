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
	arpT := Target{Addr: d.ServerAddr4, Interface: "eth2", Kind: ProbeARP}
	llT := Target{Addr: srvLL, Interface: "eth2", Kind: ProbeLinkLocalEcho}
	require.NoError(t, p.Add(arpT))
	require.NoError(t, p.Add(llT))
	waitBoth := func(want TargetState) {
		t.Helper()
		w.waitKind("eth2", d.ServerAddr4, ProbeARP, want, 10*time.Second)
		w.waitKind("eth2", srvLL, ProbeLinkLocalEcho, want, 10*time.Second)
	}
	waitBoth(TargetUp)

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
	waitBoth(TargetDown)
	require.NoError(t, d.Switch.SetMaster("p2", "br0"))
	waitBoth(TargetUp)

	require.NoError(t, d.Server.Silence())
	w.waitKind("eth2", srvLL, ProbeLinkLocalEcho, TargetDown, 10*time.Second)
	require.NoError(t, d.Server.Unsilence())
	w.waitKind("eth2", srvLL, ProbeLinkLocalEcho, TargetUp, 10*time.Second)
	for _, ts := range p.Snapshot().Targets {
		if ts.Target.Kind == ProbeARP {
			require.Equal(t, TargetUp, ts.State)
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

// TestLabLinkLocalEchoNoRoute: a LinkLocalEcho target that eth2 has no
// route to (its global address removed, the target global) is reported
// unverified: every send fails, and no probe leaks out of eth3, which has
// the route. In raw and unprivileged mode.
func TestLabLinkLocalEchoNoRoute(t *testing.T) {
	t.Parallel()
	for i, mode := range []Mode{ModeRaw, ModeUnprivileged} {
		t.Run(mode.String(), func(t *testing.T) {
			lab := netlab.New(t)
			d, err := lab.NewIPMonDual("", byte(35+i), true)
			require.NoError(t, err)
			require.NoError(t, d.Node.Sysctl("net.ipv4.ping_group_range", "0 2147483647"))
			require.NoError(t, d.Node.DelAddr("eth2", netip.PrefixFrom(d.Eth2Addr4, 24)))
			require.NoError(t, d.Node.DelAddr("eth2", netip.PrefixFrom(d.Eth2Addr6, 64)))
			txOf := func(dev string) uint64 {
				l, err := d.Node.Link(dev)
				require.NoError(t, err)
				return l.Attributes.Stats64.TXPackets
			}
			p := openIn(t, d.Node, Config{Mode: mode, Interval: 10 * time.Millisecond, FailAfter: 3})
			w := subscribe(t, p)
			before := txOf("eth3")
			require.NoError(t, p.Add(Target{Addr: d.ServerAddr6, Interface: "eth2", Kind: ProbeLinkLocalEcho}))
			w.waitKind("eth2", d.ServerAddr6, ProbeLinkLocalEcho, TargetUnverified, 5*time.Second)
			// Let it probe on: 40 probes, enough to tell a leak from noise.
			require.Eventually(t, func() bool { return p.Snapshot().Sent >= 40 }, 5*time.Second, 10*time.Millisecond)
			s := p.Snapshot()
			require.Equal(t, TargetUnverified, s.Targets[0].State)
			require.Equal(t, mode, s.Mode)
			require.Positive(t, s.Sent)
			require.Equal(t, s.Sent, s.SendErrors, "a send without a route must fail")
			require.Zero(t, s.Received)
			// Background traffic (MLD, router solicitations) is a handful
			// of packets; a leak would be one per probe.
			require.Less(t, txOf("eth3")-before, uint64(s.Sent)/2+5, "probes leaked out of eth3")
		})
	}
}
