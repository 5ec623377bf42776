//go:build linux

package ipmon

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// waitBFD waits until the latest event of the BFD target iface/addr has
// session state want, and returns it.
func (w *watcher) waitBFD(iface string, addr netip.Addr, want BFDState, timeout time.Duration) *TargetEvent {
	w.t.Helper()
	return w.waitFor(key{iface, addr, ProbeBFD}, "BFD "+want.String(), timeout, func(ev *TargetEvent) bool { return ev.BFD.State == want })
}

// waitBFDDiag waits for an event of the BFD target iface/addr with session
// state want and diagnostic diag.
func (w *watcher) waitBFDDiag(iface string, addr netip.Addr, want BFDState, diag BFDDiag, timeout time.Duration) *TargetEvent {
	w.t.Helper()
	return w.waitFor(key{iface, addr, ProbeBFD}, "BFD "+want.String()+"/"+diag.String(), timeout, func(ev *TargetEvent) bool {
		return ev.BFD.State == want && ev.BFD.Diag == diag
	})
}

// TestBFDTwoPollers peers two Pollers (the server's passive) over a veth,
// IPv4 and IPv6, at 10 ms x 3: both come Up and the target is Up; the
// server's path silenced (its address deleted) takes the node's session
// Down with control-detection-time-expired; the server's Poller closing
// (AdminDown) takes it Down with neighbor-signaled-session-down.
func TestBFDTwoPollers(t *testing.T) {
	l := netlab.New(t)
	pr, err := l.NewIPMonPair("bfd2", 61)
	require.NoError(t, err)
	node := openIn(t, pr.Node, Config{})
	srv := openIn(t, pr.Server, Config{})
	wn, ws := subscribe(t, node), subscribe(t, srv)
	for _, fam := range []struct{ node, srv netip.Addr }{{pr.NodeAddr4, pr.ServerAddr4}, {pr.NodeAddr6, pr.ServerAddr6}} {
		require.NoError(t, node.Add(Target{Interface: pr.NodeDev, Addr: fam.srv, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}))
		require.NoError(t, srv.Add(Target{Interface: pr.ServerDev, Addr: fam.node, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3, Passive: true}))
	}
	for _, fam := range []struct{ node, srv netip.Addr }{{pr.NodeAddr4, pr.ServerAddr4}, {pr.NodeAddr6, pr.ServerAddr6}} {
		ev := wn.waitBFD(pr.NodeDev, fam.srv, BFDStateUp, 10*time.Second)
		require.Equal(t, TargetUp, ev.State)
		ws.waitBFD(pr.ServerDev, fam.node, BFDStateUp, 10*time.Second)
		// Once the Poll Sequence is over, both ends run at 10 ms.
		require.Eventually(t, func() bool {
			for _, ts := range node.Snapshot().Targets {
				if ts.Target.Addr == fam.srv && ts.BFD.TxInterval == 10*time.Millisecond && ts.BFD.DetectionTime == 30*time.Millisecond && !ts.BFD.Polling {
					return true
				}
			}
			return false
		}, 5*time.Second, 10*time.Millisecond)
	}

	// Silence: the server drops the IPv4 address, its packets stop.
	require.NoError(t, pr.Server.DelAddr(pr.ServerDev, netip.PrefixFrom(pr.ServerAddr4, 24)))
	ev := wn.waitBFDDiag(pr.NodeDev, pr.ServerAddr4, BFDStateDown, BFDDiagControlDetectionExpired, 5*time.Second)
	require.Equal(t, TargetDown, ev.State)
	require.NoError(t, pr.Server.AddAddr(pr.ServerDev, netip.PrefixFrom(pr.ServerAddr4, 24)))
	ev = wn.waitBFD(pr.NodeDev, pr.ServerAddr4, BFDStateUp, 10*time.Second)
	require.Equal(t, TargetUp, ev.State)

	// The server closes: AdminDown reaches the node on both families.
	require.NoError(t, srv.Close())
	for _, a := range []netip.Addr{pr.ServerAddr4, pr.ServerAddr6} {
		ev := wn.waitBFDDiag(pr.NodeDev, a, BFDStateDown, BFDDiagNeighborSignaledDown, 2*time.Second)
		require.Equal(t, BFDStateAdminDown, ev.BFD.RemoteState, a)
		require.Equal(t, TargetDown, ev.State)
	}
	s := node.Snapshot()
	require.Zero(t, s.BFD.Malformed+s.BFD.TTL+s.BFD.Auth, "%+v", s.BFD)
	require.NotZero(t, s.BFD.Received)
}

// frrBFDConf is bfdd's configuration for peers at 10 ms x 3.
func frrBFDConf(peers ...[2]netip.Addr) string { return frrBFDConfAt(10, peers...) }

// frrBFDConfAt is bfdd's configuration for peers at ms milliseconds x 3.
func frrBFDConfAt(ms int, peers ...[2]netip.Addr) string {
	var b strings.Builder
	b.WriteString("bfd\n")
	for _, p := range peers {
		fmt.Fprintf(&b, " peer %v local-address %v\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier 3\n !\n", p[0], p[1], ms, ms)
	}
	b.WriteString("!\n")
	return b.String()
}

// bfdSwitched is a node and a server on one bridge in a switch namespace
// (ports pn and ps), so that a path can be cut with carrier kept.
type bfdSwitched struct {
	node, sw, srv *netlab.NS
	node4, srv4   netip.Addr
	node6, srv6   netip.Addr
}

func newBFDSwitched(t *testing.T, l *netlab.Lab, tag string, subnet byte) *bfdSwitched {
	t.Helper()
	b := &bfdSwitched{
		node4: netip.AddrFrom4([4]byte{198, 18, subnet, 2}),
		srv4:  netip.AddrFrom4([4]byte{198, 18, subnet, 1}),
		node6: netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::2", subnet)),
		srv6:  netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", subnet)),
	}
	var err error
	b.node, err = l.NewNS("node" + tag)
	require.NoError(t, err)
	b.sw, err = l.NewNS("sw" + tag)
	require.NoError(t, err)
	b.srv, err = l.NewNS("srv" + tag)
	require.NoError(t, err)
	require.NoError(t, b.sw.Bridge("br0"))
	for _, v := range []struct {
		ns        *netlab.NS
		dev, port string
		addr4, a6 netip.Addr
	}{{b.node, "eth2", "pn", b.node4, b.node6}, {b.srv, "s0", "ps", b.srv4, b.srv6}} {
		require.NoError(t, l.Veth(v.ns, v.dev, b.sw, v.port, nil))
		require.NoError(t, b.sw.SetMaster(v.port, "br0"))
		require.NoError(t, v.ns.AddAddr(v.dev, netip.PrefixFrom(v.addr4, 24)))
		require.NoError(t, v.ns.AddAddr(v.dev, netip.PrefixFrom(v.a6, 64)))
	}
	// IPv6 addresses must finish duplicate address detection before
	// anything binds to them.
	require.NoError(t, b.node.Sysctl("net.ipv6.conf.eth2.accept_dad", "0"))
	return b
}

// TestBFDAgainstFRR runs netpulse's BFD against FRR's bfdd at 10 ms x 3,
// IPv4 and IPv6: the sessions come up; the node's bridge port detached
// (carrier kept) takes them down with control-detection-time-expired;
// attached again, up; bfdd shutting the peer down administratively takes
// them down with neighbor-signaled-session-down, and up again after
// no shutdown; the Poller closing makes bfdd show the peer down with the
// remote diagnostic administratively-down.
func TestBFDAgainstFRR(t *testing.T) {
	netlab.RequireFRR(t)
	l := netlab.New(t)
	b := newBFDSwitched(t, l, "frr", 62)
	frr := b.srv.StartFRR(t, frrBFDConf([2]netip.Addr{b.node4, b.srv4}, [2]netip.Addr{b.node6, b.srv6}))
	node := openIn(t, b.node, Config{})
	w := subscribe(t, node)
	for _, a := range []netip.Addr{b.srv4, b.srv6} {
		require.NoError(t, node.Add(Target{Interface: "eth2", Addr: a, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}))
	}
	up := func(what string) {
		t.Helper()
		for _, a := range []netip.Addr{b.srv4, b.srv6} {
			ev := w.waitBFD("eth2", a, BFDStateUp, 15*time.Second)
			require.Equal(t, TargetUp, ev.State, what)
		}
		require.Eventually(t, func() bool {
			for _, a := range []netip.Addr{b.node4, b.node6} {
				p, err := frr.BFDPeer(a.String())
				if err != nil || p.Status != "up" {
					return false
				}
			}
			return true
		}, 10*time.Second, 50*time.Millisecond, "bfdd: %s", frr.Log())
	}
	down := func(what string, diag BFDDiag) {
		t.Helper()
		for _, a := range []netip.Addr{b.srv4, b.srv6} {
			// On a loaded machine a 10 ms session may flap by itself: wait
			// for the down with the diagnostic the step causes.
			ev := w.waitBFDDiag("eth2", a, BFDStateDown, diag, 5*time.Second)
			require.Equal(t, TargetDown, ev.State, what)
		}
	}
	up("start")
	require.Eventually(t, func() bool {
		for _, ts := range node.Snapshot().Targets {
			if ts.BFD.TxInterval != 10*time.Millisecond || ts.BFD.DetectionTime != 30*time.Millisecond {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "negotiated 10 ms x 3")

	require.NoError(t, b.sw.SetMaster("pn", ""))
	down("path cut", BFDDiagControlDetectionExpired)
	require.NoError(t, b.sw.SetMaster("pn", "br0"))
	up("path back")

	shutdown := func(on bool) {
		t.Helper()
		cmd := "shutdown"
		if !on {
			cmd = "no shutdown"
		}
		for _, p := range [][2]netip.Addr{{b.node4, b.srv4}, {b.node6, b.srv6}} {
			_, err := frr.Vtysh("configure terminal", "bfd", fmt.Sprintf("peer %v local-address %v", p[0], p[1]), cmd)
			require.NoError(t, err)
		}
	}
	shutdown(true)
	adminDown(t, w, node, "eth2", b.srv4, b.srv6)
	shutdown(false)
	up("bfdd no shutdown")

	require.NoError(t, node.Close())
	var last []netlab.BFDPeer
	ok := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(50 * time.Millisecond) {
		ok = true
		for _, a := range []netip.Addr{b.node4, b.node6} {
			p, err := frr.BFDPeer(a.String())
			last = append(last[:0], p)
			if err != nil || p.Status != "down" || p.RemoteDiagnostic != "administratively down" {
				ok = false
				break
			}
		}
	}
	require.True(t, ok, "bfdd after close: %+v", last)
	ps, _ := frr.BFDPeers()
	t.Logf("bfdd after close: %+v", ps)
	require.NotEmpty(t, frr.LogLines("state-change", "down"), frr.Log())
}

// TestBFDSourceArrivesLater: a BFD target added while its interface has no
// IPv4 address is held (HoldNoSource); when the address comes, the target
// takes it as source and its session comes Up (the destination keeps the
// BFD port when the source is rewritten).
func TestBFDSourceArrivesLater(t *testing.T) {
	l := netlab.New(t)
	pr, err := l.NewIPMonPair("bfdsrc", 62)
	require.NoError(t, err)
	require.NoError(t, pr.Node.DelAddr(pr.NodeDev, pr.NodePrefix4))
	node := openIn(t, pr.Node, Config{})
	srv := openIn(t, pr.Server, Config{})
	wn := subscribe(t, node)
	tg := Target{Interface: pr.NodeDev, Addr: pr.ServerAddr4, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}
	require.NoError(t, node.Add(tg))
	require.NoError(t, srv.Add(Target{Interface: pr.ServerDev, Addr: pr.NodeAddr4, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3, Passive: true}))
	require.Equal(t, HoldNoSource, statsOf(t, node, tg).Hold)
	require.NoError(t, pr.Node.AddAddr(pr.NodeDev, pr.NodePrefix4))
	ev := wn.waitBFD(pr.NodeDev, pr.ServerAddr4, BFDStateUp, 10*time.Second)
	require.Equal(t, TargetUp, ev.State)
	require.Equal(t, HoldNone, ev.Hold)
	ts := statsOf(t, node, tg)
	require.Equal(t, pr.NodeAddr4, ts.Source)
	require.Zero(t, node.Snapshot().BFD.SendErrors)
}

// adminDown checks that the peer's AdminDown reached each BFD target of
// iface (bfdd shut the peers down): the session is Down, the peer's state
// as last received is AdminDown, and the target is down. The local
// diagnostic is neighbor-signaled-session-down when the AdminDown packet
// took the session down; on a loaded machine the 10 ms session may have
// expired (control-detection-time-expired) just before the AdminDown
// arrived, and a Down session stays Down on AdminDown with its diagnostic
// unchanged (RFC 5880 6.8.6, TestBFDReceptionTable's Down <- AdminDown row)
// and no new event: both orders are correct, and both show the AdminDown
// received and acted on (the session does not come back up while the peer
// is administratively down). bfdd sends its AdminDown when shut down, not
// periodically after: the order cannot be forced by cutting the path.
func adminDown(t *testing.T, w *watcher, p *Poller, iface string, addrs ...netip.Addr) {
	t.Helper()
	for _, a := range addrs {
		ev := w.waitFor(key{iface, a, ProbeBFD}, "BFD down", 5*time.Second, func(ev *TargetEvent) bool { return ev.BFD.State == BFDStateDown })
		require.Contains(t, []BFDDiag{BFDDiagNeighborSignaledDown, BFDDiagControlDetectionExpired}, ev.BFD.Diag, "%v: %+v", a, ev.BFD)
		require.Equal(t, TargetDown, ev.State, a)
		var last BFDStatus
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			for _, ts := range p.Snapshot().Targets {
				if ts.Target.Addr == a && ts.Target.Kind == ProbeBFD {
					last = ts.BFD
				}
			}
			if last.State == BFDStateDown && last.RemoteState == BFDStateAdminDown {
				break
			}
			require.True(t, time.Now().Before(deadline), "%v: the peer's AdminDown not seen: %+v", a, last)
		}
		if last.Diag != BFDDiagNeighborSignaledDown {
			t.Logf("%v: the session expired (%v) before the peer's AdminDown arrived", a, last.Diag)
		}
	}
}
