//go:build linux

package ipmon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// waitBFD waits until the latest event of the BFD target iface/addr has
// session state want, and returns it.
func (w *watcher) waitBFD(iface string, addr netip.Addr, want BFDState, timeout time.Duration) Event {
	w.t.Helper()
	k := key{iface, addr, BFD}
	if ev, ok := w.last[k]; ok && ev.BFD.State == want {
		return ev
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-w.ch:
			if !ok {
				w.t.Fatalf("subscription closed waiting for BFD %s=%v %v", iface, addr, want)
			}
			if ev.Kind != TargetChanged {
				continue
			}
			w.last[ev.Target.key()] = ev
			if ev.Target.key() == k && ev.BFD.State == want {
				return ev
			}
		case <-deadline:
			w.t.Fatalf("no BFD %v event for %s=%v within %v (last: %+v)", want, iface, addr, timeout, w.last[k].BFD)
		}
	}
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
		require.NoError(t, node.Add(Target{Interface: pr.NodeDev, Addr: fam.srv, Kind: BFD, Interval: 10 * time.Millisecond, FailAfter: 3}))
		require.NoError(t, srv.Add(Target{Interface: pr.ServerDev, Addr: fam.node, Kind: BFD, Interval: 10 * time.Millisecond, FailAfter: 3, Passive: true}))
	}
	for _, fam := range []struct{ node, srv netip.Addr }{{pr.NodeAddr4, pr.ServerAddr4}, {pr.NodeAddr6, pr.ServerAddr6}} {
		ev := wn.waitBFD(pr.NodeDev, fam.srv, BFDUp, 10*time.Second)
		require.Equal(t, Up, ev.State)
		ws.waitBFD(pr.ServerDev, fam.node, BFDUp, 10*time.Second)
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
	ev := wn.waitBFD(pr.NodeDev, pr.ServerAddr4, BFDDown, 5*time.Second)
	require.Equal(t, Down, ev.State)
	require.Equal(t, BFDDiagControlDetectionExpired, ev.BFD.Diag)
	require.NoError(t, pr.Server.AddAddr(pr.ServerDev, netip.PrefixFrom(pr.ServerAddr4, 24)))
	ev = wn.waitBFD(pr.NodeDev, pr.ServerAddr4, BFDUp, 10*time.Second)
	require.Equal(t, Up, ev.State)

	// The server closes: AdminDown reaches the node on both families.
	require.NoError(t, srv.Close())
	for _, a := range []netip.Addr{pr.ServerAddr4, pr.ServerAddr6} {
		ev := wn.waitBFD(pr.NodeDev, a, BFDDown, 2*time.Second)
		require.Equal(t, BFDDiagNeighborSignaledDown, ev.BFD.Diag, a)
		require.Equal(t, BFDAdminDown, ev.BFD.RemoteState, a)
		require.Equal(t, Down, ev.State)
	}
	s := node.Snapshot()
	require.Zero(t, s.BFD.Malformed+s.BFD.TTL+s.BFD.Auth, "%+v", s.BFD)
	require.NotZero(t, s.BFD.Received)
}
