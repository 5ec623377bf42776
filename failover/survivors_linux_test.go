//go:build linux

package failover_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// peerNeigh returns the peer's neighbour entry (hardware address) for ip.
func peerNeigh(t *testing.T, ns *netlab.NS, ip netip.Addr) net.HardwareAddr {
	c, err := ns.Dial()
	require.NoError(t, err)
	defer c.Close()
	all, err := c.Neigh.List()
	require.NoError(t, err)
	for _, n := range all {
		if n.Attributes == nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(n.Attributes.Address); ok && a.Unmap() == ip {
			return n.Attributes.LLAddress
		}
	}
	return nil
}

// TestKernelSurvivorAnnounced is ARP flux repaired: default ARP sysctls,
// the peer's neighbour cache holding eth2's own address at eth3's MAC
// (eth3 answered the peer's ARP for it), so eth2's probe replies come in
// through eth3. Carrier loss on eth3: the engine announces eth2's own
// address from eth2 and eth2's target stays alive (at most 50 ms dead).
// The control run without the announcements shows the fault: eth2's target
// goes dead with eth3.
func TestKernelSurvivorAnnounced(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := "announce"
		if !on {
			name = "control-without"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dead, peerMAC, mac2 := survivorTrial(t, on)
			if on {
				require.LessOrEqual(t, dead, 50*time.Millisecond, "eth2's target dead for %v", dead)
				require.Equal(t, mac2, peerMAC, "the peer learnt eth2's address at eth2's MAC")
				t.Logf("eth2's target dead for %v after eth3's carrier loss", dead)
			} else {
				require.Greater(t, dead, 500*time.Millisecond, "without the announcement eth2 goes down with eth3")
			}
		})
	}
}

// survivorTrial returns how long eth2's verdict was dead in the second
// after eth3's carrier loss, and the peer's entry for eth2's address then.
func survivorTrial(t *testing.T, announce bool) (time.Duration, net.HardwareAddr, net.HardwareAddr) {
	eth2Addr := netip.MustParsePrefix("198.18.10.2/24")
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", ServerNS: "peer", Bridge: "br0",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24")}}, // notified at once
			{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{eth2Addr}},
		},
		Server: &netlab.PairLink{Name: "eth0", Peer: "pp", Addrs: peerAddrs[:1]},
	})
	node, sw, peer := pr.Node, pr.Peer, pr.Server
	l3, err := node.Link("eth3")
	require.NoError(t, err)
	l2, err := node.Link("eth2")
	require.NoError(t, err)

	act, err := failover.OpenActuator(context.Background(), &failover.ActuatorConfig{NetNS: node.FD()})
	require.NoError(t, err)
	t.Cleanup(func() { act.Close() })
	e, err := failover.Open(context.Background(), &failover.Config{Groups: []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"},
		Addresses: []netip.Prefix{svc4}, HoldDown: time.Hour}}, Actuator: act, NoSurvivorAnnouncements: !announce})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	w, err := linkmon.Open(ctx, &linkmon.Config{NetNS: node.FD(), Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}}})
	require.NoError(t, err)
	p, err := ipmon.Open(ctx, &ipmon.Config{NetNS: node.FD(), Interval: 10 * time.Millisecond, Timeout: 20 * time.Millisecond,
		FailAfter: 3, RecoverAfter: 2})
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		p.Close()
		w.Close()
	})
	evs := p.Subscribe(ctx)
	h, err := health.New(ctx, &health.Config{Links: w, Probes: p})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	require.NoError(t, h.Feed(ctx, e))
	for _, ifc := range []string{"eth3", "eth2"} {
		require.NoError(t, p.Add(ipmon.Target{Interface: ifc, Addr: peerAddrs[0].Addr()}))
	}
	verdict := map[string]netpulse.Verdict{}
	waitAlive := func() {
		deadline := time.After(10 * time.Second)
		for verdict["eth2"] != netpulse.VerdictAlive || verdict["eth3"] != netpulse.VerdictAlive {
			select {
			case raw := <-evs:
				if ev, ok := raw.(*ipmon.VerdictEvent); ok {
					verdict[ev.Interface.Name] = ev.Verdict
				}
			case <-deadline:
				t.Fatalf("targets not alive: %v", verdict)
			}
		}
	}
	waitAlive()
	require.Eventually(t, func() bool { return e.Snapshot().Groups[0].Active == "eth3" }, 5*time.Second, time.Millisecond)

	// ARP flux: the peer holds eth2's address at eth3's MAC, as when eth3
	// answered its ARP request first.
	c, err := peer.Dial()
	require.NoError(t, err)
	pi, err := peer.Index("eth0")
	require.NoError(t, err)
	_, err = c.Execute(&rtnetlink.NeighMessage{Family: unix.AF_INET, Index: uint32(pi), State: unix.NUD_REACHABLE,
		Attributes: &rtnetlink.NeighAttributes{Address: net.IP(eth2Addr.Addr().AsSlice()), LLAddress: l3.Attributes.Address}},
		unix.RTM_NEWNEIGH, netlink.Request|netlink.Create|netlink.Replace|netlink.Acknowledge)
	require.NoError(t, err)
	c.Close()
	require.Equal(t, l3.Attributes.Address, peerNeigh(t, peer, eth2Addr.Addr()))
	// eth2's replies now come in through eth3: still alive. Readiness
	// instead of a sleep: twenty more replies to eth2's probes (200 ms at
	// the 10 ms interval, longer on a loaded machine), so that a failure
	// (three misses in a row) would have had time to show.
	eth2Received := func() uint64 {
		for _, ts := range p.Snapshot().Targets {
			if ts.Target.Interface == "eth2" {
				return ts.Received
			}
		}
		return 0 // (no eth2 target: Eventually fails)
	}
	before := eth2Received()
	require.Eventually(t, func() bool { return eth2Received() >= before+20 }, 10*time.Second, 5*time.Millisecond,
		"eth2's probes answered after the flux")
	for {
		select {
		case raw := <-evs:
			if ev, ok := raw.(*ipmon.VerdictEvent); ok {
				verdict[ev.Interface.Name] = ev.Verdict
			}
			continue
		default:
		}
		break
	}
	require.Equal(t, netpulse.VerdictAlive, verdict["eth2"], "flux alone does not kill eth2's path")

	require.NoError(t, sw.SetDown("p3"))
	t0 := time.Now()
	var dead time.Duration
	var deadSince time.Time
	end := time.After(time.Second)
	for done := false; !done; {
		select {
		case raw := <-evs:
			ev, ok := raw.(*ipmon.VerdictEvent)
			if !ok || ev.Interface.Name != "eth2" {
				continue
			}
			switch {
			case ev.Verdict == netpulse.VerdictDead && deadSince.IsZero():
				deadSince = ev.Time
			case ev.Verdict == netpulse.VerdictAlive && !deadSince.IsZero():
				dead += ev.Time.Sub(deadSince)
				deadSince = time.Time{}
			}
		case <-end:
			done = true
		}
	}
	if !deadSince.IsZero() {
		dead += time.Since(deadSince)
	}
	t.Logf("announce=%v: eth2 dead %v in the %v after eth3's carrier loss", announce, dead, time.Since(t0).Round(time.Millisecond))
	return dead, peerNeigh(t, peer, eth2Addr.Addr()), l2.Attributes.Address
}

// TestKernelRenamedMember: the active eth3 is renamed eth9 (`ip link set
// eth3 name eth9`, which the kernel only allows while it is down): the
// addresses move to eth2 and stay there while eth9 is up again; a new
// device on the bridge that takes the name eth3 is the member eth3 (new
// index), and the addresses fail back to it.
func TestKernelRenamedMember(t *testing.T) {
	k := newKernelLabWith(t, true, failover.GroupConfig{HoldDown: 300 * time.Millisecond}, nil, defaultMonitors)
	old, err := k.node.Index("eth3")
	require.NoError(t, err)
	require.NoError(t, k.node.Rename("eth3", "eth9"))
	sw := k.waitSwitch(netpulse.ReasonLinkDown)
	require.Equal(t, "eth2", sw.To.Name)
	on, off := k.addrsOn("eth2"), k.addrsOn("eth9")
	for _, p := range svcAddrs {
		require.Contains(t, on, p)
		require.NotContains(t, off, p, "removed from the renamed device")
	}
	k.echoAll("after the rename")
	k.noSwitch(500 * time.Millisecond) // eth9 is up again: not a member
	require.Equal(t, netpulse.HealthLinkDown, k.e.Snapshot().Groups[0].Members[0].Health)

	// A new device on the bridge takes the name. (A second lab object
	// only to create the pair; explicit indexes avoid the first lab's.)
	lab2 := netlab.New(t)
	require.NoError(t, lab2.Veth(k.node, "eth4", k.sw, "p4", &netlab.VethOptions{Index: 1900, PeerIndex: 1901}))
	require.NoError(t, k.sw.SetMaster("p4", "br0"))
	require.NoError(t, k.node.AddAddr("eth4", netip.MustParsePrefix("198.18.10.4/24")))
	require.NoError(t, k.node.Rename("eth4", "eth3"))
	fb := k.waitSwitch(netpulse.ReasonFailback)
	require.Equal(t, "eth3", fb.To.Name)
	require.Equal(t, 1900, fb.To.Index, "the new device")
	require.NotEqual(t, old, fb.To.Index)
	k.requireOn("eth3")
	k.echoAll("after failback to the new eth3")
	t.Logf("\n%s", k.e.Snapshot())
}
