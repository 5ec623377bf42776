//go:build linux

package healthfeed_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/healthfeed"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
	"github.com/stretchr/testify/require"
)

// TestUnverifiedTargetDoesNotSteerKernel is #11.5 on the real kernel, wired
// as routeguard wires it (linkmon and ipmon through a Feed into a
// route.Steerer): node with eth3 (activated first) and eth2 on one subnet
// through a bridge to a server; eth3's target is an address nobody
// answers, eth2's the server. eth3's path is healthy, so the subnet must
// stay on eth3 after the unverified target missed many times. A carrier
// loss on eth3 then does steer (the wiring works).
func TestUnverifiedTargetDoesNotSteerKernel(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	node, err := lab.NewNS("node")
	require.NoError(t, err)
	sw, err := lab.NewNS("sw")
	require.NoError(t, err)
	srv, err := lab.NewNS("srv")
	require.NoError(t, err)
	require.NoError(t, sw.Bridge("br0"))
	require.NoError(t, lab.Veth(node, "eth3", sw, "p3", nil))
	require.NoError(t, lab.Veth(node, "eth2", sw, "p2", nil))
	require.NoError(t, lab.Veth(srv, "eth0", sw, "ps", nil))
	for _, p := range []string{"p3", "p2", "ps"} {
		require.NoError(t, sw.SetMaster(p, "br0"))
	}
	require.NoError(t, node.SetStrictARP(true))
	require.NoError(t, node.AddAddr("eth3", netip.MustParsePrefix("198.18.10.3/24")))
	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("198.18.10.2/24")))
	require.NoError(t, srv.AddAddr("eth0", netip.MustParsePrefix("198.18.10.100/24")))
	server, nobody := netip.MustParseAddr("198.18.10.100"), netip.MustParseAddr("198.18.10.99")

	out := func() string {
		ans, err := node.RouteGet(server)
		require.NoError(t, err)
		links, err := node.Links()
		require.NoError(t, err)
		for _, m := range links {
			if int(m.Index) == ans.OutIface {
				return m.Attributes.Name
			}
		}
		return ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := node.Ping("eth3", server, 200*time.Millisecond)
		if err == nil && out() == "eth3" {
			break
		}
		require.True(t, time.Now().Before(deadline), "lab not ready: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := route.OpenSteerer(ctx, &route.SteererConfig{NetNS: node.FD(),
		Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}, Interfaces: []string{"eth3", "eth2"}})
	require.NoError(t, err)
	defer st.Close()
	steered := st.Subscribe(ctx)
	if ev, ok := (<-steered).(*route.SteerEvent); !ok || !ev.Initial {
		t.Fatalf("the subscription starts with the guarded prefix's state: %+v", ev)
	}
	lw, err := linkmon.Open(ctx, &linkmon.Config{NetNS: node.FD(),
		Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}}})
	require.NoError(t, err)
	defer lw.Close()
	const iv = 20 * time.Millisecond
	p, err := ipmon.Open(ctx, &ipmon.Config{NetNS: node.FD(), Interval: iv, Timeout: iv, FailAfter: 3, RecoverAfter: 2})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Add(ipmon.Target{Addr: nobody, Interface: "eth3"}))
	require.NoError(t, p.Add(ipmon.Target{Addr: server, Interface: "eth2"}))

	var mu sync.Mutex
	var eth3Verdicts []*ipmon.VerdictEvent
	eth2Alive, eth3Unverified := false, false
	feed := healthfeed.Feed{Setter: st, OnIP: func(raw netpulse.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := raw.(type) {
		case *ipmon.VerdictEvent:
			switch ev.Interface.Name {
			case "eth3":
				eth3Verdicts = append(eth3Verdicts, ev)
			case "eth2":
				eth2Alive = ev.Verdict == netpulse.VerdictAlive
			}
		case *ipmon.TargetEvent:
			if ev.Interface.Name == "eth3" {
				eth3Unverified = ev.State == ipmon.TargetUnverified
			}
		}
	}}
	sub, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	links, ips := lw.Subscribe(sub), p.Subscribe(sub)
	wg.Go(func() { feed.Run(links, ips) })

	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return eth2Alive && eth3Unverified },
		10*time.Second, iv, "eth2's target alive and eth3's unverified")
	// Many more misses than FailAfter: whatever the verdict on eth3 says,
	// nothing may steer.
	time.Sleep(25 * iv)
	mu.Lock()
	for _, ev := range eth3Verdicts {
		t.Logf("eth3 verdict %v (evidence %v)", ev.Verdict, ev.Evidence)
	}
	mu.Unlock()
	select {
	case ev := <-steered:
		t.Fatalf("an unverified target steered: %+v", ev)
	default:
	}
	require.Equal(t, "eth3", out(), "the subnet left a healthy eth3")
	_, err = node.Ping("eth3", server, time.Second)
	require.NoError(t, err, "eth3's path is healthy")

	// The control: carrier loss on eth3 steers to eth2.
	require.NoError(t, sw.SetDown("p3"))
	select {
	case e := <-steered:
		ev, ok := e.(*route.SteerEvent)
		require.True(t, ok, "%+v", e)
		require.Equal(t, "eth2", ev.Interface.Name, "%+v", ev)
		require.Equal(t, netpulse.ReasonLinkDown, ev.Reason, "%+v", ev)
	case <-time.After(10 * time.Second):
		t.Fatal("carrier loss on eth3 did not steer")
	}
	require.Equal(t, "eth2", out())
}
