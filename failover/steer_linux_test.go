//go:build linux

package failover_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestKernelSteerReturnSwitchesRules: moving the return path from eth3 to
// eth2 and back leaves exactly one rule per service address, pointing at
// the active member's table, and the kernel announces the new rule before
// it deletes the old one, so that replies are never without a rule.
func TestKernelSteerReturnSwitchesRules(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}, {Name: "eth3", Peer: "p3"}}})
	node := pr.Node
	act, err := failover.OpenActuator(context.Background(), &failover.ActuatorConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer act.Close()
	ctx := t.Context()
	idx := map[string]int{}
	for _, n := range []string{"eth2", "eth3"} {
		idx[n], err = node.Index(n)
		require.NoError(t, err)
	}
	rt, err := node.Dial()
	require.NoError(t, err)
	defer rt.Close()
	tableOf := func(n string) uint32 { return netpulse.DefaultReturnTableBase + uint32(idx[n]) }
	requireRules := func(active string) {
		t.Helper()
		rules, err := rt.Rule.List()
		require.NoError(t, err)
		for _, p := range svcAddrs {
			var tables []uint32
			for _, r := range rules {
				if r.Attributes == nil || r.Attributes.Priority == nil || *r.Attributes.Priority != netpulse.DefaultRulePriority || r.Attributes.Src == nil {
					continue
				}
				if s, ok := netip.AddrFromSlice(*r.Attributes.Src); ok && s.Unmap() == p.Addr() {
					tables = append(tables, *r.Attributes.Table)
				}
			}
			require.Equal(t, []uint32{tableOf(active)}, tables, "rules from %v", p.Addr())
		}
	}

	require.NoError(t, act.SteerReturn(ctx, netpulse.Interface{Name: "eth3"}, svcAddrs))
	requireRules("eth3")

	// Watch the rule notifications of both families during the switch.
	mon, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: node.FD()})
	require.NoError(t, err)
	defer mon.Close()
	require.NoError(t, mon.JoinGroup(unix.RTNLGRP_IPV4_RULE))
	require.NoError(t, mon.JoinGroup(unix.RTNLGRP_IPV6_RULE))

	for _, to := range []string{"eth2", "eth3"} {
		from := map[string]string{"eth2": "eth3", "eth3": "eth2"}[to]
		require.NoError(t, act.SteerReturn(ctx, netpulse.Interface{Name: to}, svcAddrs))
		requireRules(to)
		// Per address: RTM_NEWRULE to the new table, then RTM_DELRULE of
		// the old one.
		type change struct {
			add   bool
			table uint32
		}
		seen := map[netip.Addr][]change{}
		require.NoError(t, mon.SetReadDeadline(time.Now().Add(2*time.Second)))
		for n := 0; n < 2*len(svcAddrs); {
			msgs, err := mon.Receive()
			require.NoError(t, err, "rule notifications")
			for _, m := range msgs {
				var rm rtnetlink.RuleMessage
				require.NoError(t, rm.UnmarshalBinary(m.Data))
				if rm.Attributes == nil || rm.Attributes.Src == nil || rm.Attributes.Table == nil {
					continue
				}
				src, _ := netip.AddrFromSlice(*rm.Attributes.Src)
				seen[src.Unmap()] = append(seen[src.Unmap()], change{m.Header.Type == unix.RTM_NEWRULE, *rm.Attributes.Table})
				n++
			}
		}
		for _, p := range svcAddrs {
			require.Equal(t, []change{{true, tableOf(to)}, {false, tableOf(from)}}, seen[p.Addr()], "%v to %s", p.Addr(), to)
		}
	}

	// Steering to the active member again changes nothing.
	require.NoError(t, act.SteerReturn(ctx, netpulse.Interface{Name: "eth3"}, svcAddrs))
	requireRules("eth3")
	require.NoError(t, mon.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = mon.Receive()
	require.Error(t, err, "no rule changed")
}

// TestKernelEngineOpensActuator: with no Config.Actuator, Open opens the
// kernel's in Config.NetNS; the engine places the addresses through it and
// Close closes it (goleak: its drift watch is gone).
func TestKernelEngineOpensActuator(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}, {Name: "eth3", Peer: "p3"}}})
	node := pr.Node
	e, err := failover.Open(t.Context(), &failover.Config{
		NetNS:  node.FD(),
		Groups: []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}}},
	})
	require.NoError(t, err)
	defer e.Close()
	events := e.Subscribe(t.Context())
	for _, n := range []string{"eth3", "eth2"} {
		feed(e).link(n, 0, true)
	}
	deadline := time.After(10 * time.Second)
	for placed := false; !placed; {
		select {
		case ev := <-events:
			if a, ok := ev.(*failover.ActionErrorEvent); ok {
				t.Fatalf("%s failed: %v", a.Op, a.Err)
			}
			_, placed = ev.(*failover.SwitchEvent)
		case <-deadline:
			t.Fatal("no placement")
		}
	}
	l, err := node.Link("eth3")
	require.NoError(t, err)
	c, err := node.Dial()
	require.NoError(t, err)
	defer c.Close()
	addrs, err := c.Address.List()
	require.NoError(t, err)
	found := false
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.Attributes.Address); ok && a.Index == l.Index && got.Unmap() == svc4.Addr() {
			found = true
		}
	}
	require.True(t, found, "%v on eth3", svc4)
	require.NoError(t, e.Close())
	_, open := <-events
	require.False(t, open)
}

// BenchmarkKernelSteerReturn: one SteerReturn of a move's share (the
// return path of svcAddrs switched between two members), the rtnetlink
// round trips the move pays between its address changes and its first
// announcement.
func BenchmarkKernelSteerReturn(b *testing.B) {
	pr := netlab.NewPair(b, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}, {Name: "eth3", Peer: "p3"}}})
	act, err := failover.OpenActuator(context.Background(), &failover.ActuatorConfig{NetNS: pr.Node.FD()})
	require.NoError(b, err)
	defer act.Close()
	members := []netpulse.Interface{{Name: "eth2"}, {Name: "eth3"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := act.SteerReturn(context.Background(), members[i%2], svcAddrs); err != nil {
			b.Fatal(err)
		}
	}
}
