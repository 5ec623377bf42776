//go:build linux

package ipmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/netpulse/netpulse"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestLabTargetChecks: local, multicast, broadcast, unspecified, wrong
// family and unknown-interface targets are refused with precise errors.
func TestLabTargetChecks(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 22)
	require.NoError(t, err)
	p := openIn(t, pair.Node, Config{})
	for _, tc := range []struct {
		t    Target
		want error
		msg  string
	}{
		{Target{Addr: pair.NodeAddr4, Interface: "eth2"}, ErrLocalAddress, "address of this host"},
		{Target{Addr: pair.NodeAddr6, Interface: "eth2"}, ErrLocalAddress, "address of this host"},
		{Target{Addr: netip.MustParseAddr("127.0.0.1"), Interface: "eth2"}, ErrLocalAddress, "loopback"},
		{Target{Addr: netip.MustParseAddr("198.18.22.255"), Interface: "eth2"}, ErrInvalidTarget, "broadcast"},
		{Target{Addr: netip.MustParseAddr("255.255.255.255"), Interface: "eth2"}, ErrInvalidTarget, "broadcast"},
		{Target{Addr: netip.MustParseAddr("224.0.0.1"), Interface: "eth2"}, ErrInvalidTarget, "multicast"},
		{Target{Addr: netip.MustParseAddr("ff02::1"), Interface: "eth2"}, ErrInvalidTarget, "multicast"},
		{Target{Addr: netip.MustParseAddr("0.0.0.0"), Interface: "eth2"}, ErrInvalidTarget, "unspecified"},
		{Target{Addr: netip.MustParseAddr("::"), Interface: "eth2"}, ErrInvalidTarget, "unspecified"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth2", Source: pair.NodeAddr6}, ErrInvalidTarget, "different families"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth2", Source: netip.MustParseAddr("198.18.22.77")}, ErrInvalidTarget, "not an address of this host"},
		{Target{Addr: pair.ServerAddr6, Interface: "eth2", Kind: ProbeARP}, ErrInvalidTarget, "IPv4 target"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth2", Kind: ProbeLinkLocalEcho}, ErrInvalidTarget, "IPv6 target"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth9"}, ErrUnknownInterface, "eth9"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth2", Interval: time.Microsecond}, ErrInvalidTarget, "interval"},
		{Target{Addr: pair.ServerAddr4, Interface: "eth2", FailAfter: -1}, ErrInvalidTarget, "fail-after"},
	} {
		err := p.Add(tc.t)
		require.ErrorIs(t, err, tc.want, "%v", tc.t)
		require.Contains(t, err.Error(), tc.msg, "%v", tc.t)
	}
	require.ErrorIs(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: "eth9"}), os.ErrNotExist)
	require.Empty(t, p.Snapshot().Targets)

	require.NoError(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: "eth2"}))
	require.ErrorIs(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: "eth2"}), ErrExists)
	require.ErrorIs(t, p.Remove(Target{Addr: pair.ServerAddr6, Interface: "eth2"}), ErrNotFound)
	require.ErrorIs(t, p.Update(Target{Addr: pair.ServerAddr6, Interface: "eth2"}), ErrNotFound)
}

// TestLabUnverified: a target that never answers is reported unverified,
// not down; the interface verdict is dead.
func TestLabUnverified(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 23)
	require.NoError(t, err)
	require.NoError(t, pair.Server.Silence())
	p := openIn(t, pair.Node, Config{Interval: 20 * time.Millisecond, FailAfter: 3})
	w := subscribe(t, p)
	silent := pair.ServerAddr4
	absent := netip.MustParseAddr("2001:db8:17::99") // nobody holds it
	require.NoError(t, p.Add(Target{Addr: silent, Interface: "eth2"}))
	require.NoError(t, p.Add(Target{Addr: absent, Interface: "eth2"}))
	eth2, err := pair.Node.Index("eth2")
	require.NoError(t, err)
	for _, a := range []netip.Addr{silent, absent} {
		ev := w.waitTarget("eth2", a, TargetUnverified, 5*time.Second)
		require.Equal(t, TargetUnknown, ev.Previous)
		require.Equal(t, netpulse.Interface{Index: eth2, Name: "eth2"}, ev.Interface, "the index in the Poller's namespace")
	}
	s := p.Snapshot()
	require.Equal(t, netpulse.VerdictUnverified, s.Interfaces[0].Verdict, "targets that never answered are no evidence")
	require.Equal(t, 2, s.Interfaces[0].Unverified)
	// Once it answers, it is up at the first reply.
	require.NoError(t, pair.Server.Unsilence())
	w.waitTarget("eth2", silent, TargetUp, 5*time.Second)
}

// TestLabUnprivileged runs the poller with datagram ICMP sockets, allowed
// by ping_group_range set inside the test namespace, for IPv4 and IPv6; and
// checks the error naming ping_group_range when it is not allowed.
func TestLabUnprivileged(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 24)
	require.NoError(t, err)

	// Not allowed ("1 0" disables datagram ICMP sockets for everyone).
	require.NoError(t, pair.Node.Sysctl("net/ipv4/ping_group_range", "1 0"))
	_, err = Open(context.Background(), &Config{NetNS: pair.Node.FD(), Mode: ModeUnprivileged})
	require.Error(t, err)
	require.ErrorIs(t, err, os.ErrPermission)
	require.Contains(t, err.Error(), "ping_group_range")

	gid := os.Getgid()
	require.NoError(t, pair.Node.Sysctl("net/ipv4/ping_group_range", fmt.Sprintf("%d %d", gid, gid)))
	p := openIn(t, pair.Node, Config{Mode: ModeUnprivileged, Interval: 20 * time.Millisecond})
	require.Equal(t, ModeUnprivileged, p.Snapshot().Mode)
	w := subscribe(t, p)
	for _, a := range []netip.Addr{pair.ServerAddr4, pair.ServerAddr6} {
		require.NoError(t, p.Add(Target{Addr: a, Interface: "eth2"}))
	}
	for _, a := range []netip.Addr{pair.ServerAddr4, pair.ServerAddr6} {
		w.waitTarget("eth2", a, TargetUp, 5*time.Second)
	}
	require.NoError(t, pair.Server.Silence())
	for _, a := range []netip.Addr{pair.ServerAddr4, pair.ServerAddr6} {
		w.waitTarget("eth2", a, TargetDown, 5*time.Second)
	}
	require.NoError(t, pair.Server.Unsilence())
	for _, a := range []netip.Addr{pair.ServerAddr4, pair.ServerAddr6} {
		w.waitTarget("eth2", a, TargetUp, 5*time.Second)
	}
	for _, ts := range p.Snapshot().Targets {
		require.Positive(t, ts.MinRTT)
	}
}

// TestLabCloseWithManyTargets: Close with 1,000 targets in flight is
// prompt, idempotent, closes subscriptions and refuses further use; that no
// goroutine is left is checked by goleak when the package's tests end
// (other tests run in parallel, so counting goroutines here would not
// tell).
func TestLabCloseWithManyTargets(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 25)
	require.NoError(t, err)
	// The server answers for a whole /22 routed to it.
	require.NoError(t, pair.Server.AddLocalRoute(netip.MustParsePrefix("198.18.64.0/22")))
	require.NoError(t, pair.Node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.64.0/22"), Gateway: pair.ServerAddr4, Dev: "eth2"}))
	cfg := Config{NetNS: pair.Node.FD(), Interval: 100 * time.Millisecond}
	p, err := Open(context.Background(), &cfg)
	require.NoError(t, err)
	sub := p.Subscribe(context.Background())
	base := netip.MustParseAddr("198.18.64.1")
	a := base
	addStart := time.Now()
	for range 1000 {
		require.NoError(t, p.Add(Target{Addr: a, Interface: "eth2"}))
		a = a.Next()
	}
	t.Logf("1,000 targets added in %v", time.Since(addStart))
	require.Eventually(t, func() bool {
		s := p.Snapshot()
		return s.Received > 5000
	}, 20*time.Second, 20*time.Millisecond)
	s := p.Snapshot()
	t.Logf("sent %d received %d send errors %d overruns %d drops %+v", s.Sent, s.Received, s.SendErrors, s.Overruns, s.Drops)
	start := time.Now()
	require.NoError(t, p.Close())
	took := time.Since(start)
	t.Logf("Close with 1,000 targets in flight took %v", took)
	require.Less(t, took, 2*time.Second)
	require.NoError(t, p.Close(), "Close is idempotent")
	for range sub {
	}
	require.ErrorIs(t, p.Add(Target{Addr: base, Interface: "eth2"}), net.ErrClosed)
	_, ok := <-p.Subscribe(context.Background())
	require.False(t, ok, "Subscribe after Close returns a closed channel")
}

// TestLabDiscover proposes the gateways of routes through an interface.
func TestLabDiscover(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 26)
	require.NoError(t, err)
	gw4 := pair.ServerAddr4
	gw6 := pair.ServerAddr6
	require.NoError(t, pair.Node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.19.0.0/16"), Gateway: gw4, Dev: "eth2"}))
	require.NoError(t, pair.Node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.18.26.254"), Dev: "eth2"}))
	require.NoError(t, pair.Node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("::/0"), Gateway: gw6, Dev: "eth2"}))
	got, err := Discover(context.Background(), pair.Node.FD(), "eth2")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("198.18.26.254"), gw4, gw6}, got)
	_, err = Discover(context.Background(), pair.Node.FD(), "nope0")
	require.ErrorIs(t, err, ErrUnknownInterface)
	_ = errors.Is
	_ = strings.Contains
}

// TestLabInterfaceRecreated: eth2 is deleted (its targets go down: every
// send fails) and created again under the same name with a new index, its
// addresses added only later (as DHCP would); the Poller moves its echo,
// source-bound echo and ARP targets to the new interface by itself (the
// source-bound ones once their source address is back) and they come back
// up.
func TestLabInterfaceRecreated(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 26)
	require.NoError(t, err)
	p := openIn(t, pair.Node, Config{Interval: 20 * time.Millisecond, FailAfter: 3, RecoverAfter: 2})
	w := subscribe(t, p)
	targets := []Target{
		{Addr: pair.ServerAddr4, Interface: "eth2", Source: pair.NodeAddr4},
		{Addr: pair.ServerAddr6, Interface: "eth2"},
		{Addr: pair.ServerAddr4, Interface: "eth2", Kind: ProbeARP},
	}
	for _, tg := range targets {
		require.NoError(t, p.Add(tg))
	}
	waitAll := func(want TargetState) {
		t.Helper()
		for _, tg := range targets {
			w.waitKind("eth2", tg.Addr, tg.Kind, want, 10*time.Second)
		}
	}
	waitAll(TargetUp)
	oldIndex, err := pair.Node.Index("eth2")
	require.NoError(t, err)

	require.NoError(t, pair.Node.DeleteLink("eth2")) // and its peer s0
	waitAll(TargetDown)
	require.Zero(t, p.Snapshot().Rebinds)

	require.NoError(t, lab.Veth(pair.Node, "eth2", pair.Server, "s0", nil))
	// The targets without a source move at once; the source-bound one
	// cannot until its address is back.
	require.Eventually(t, func() bool { return p.Snapshot().Rebinds == uint64(len(targets)-1) },
		5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, uint64(len(targets)-1), p.Snapshot().Rebinds)
	for _, a := range []struct {
		ns  *netlab.NS
		dev string
		p   netip.Prefix
	}{
		{pair.Node, "eth2", pair.NodePrefix4},
		{pair.Node, "eth2", pair.NodePrefix6},
		{pair.Server, "s0", netip.PrefixFrom(pair.ServerAddr4, 24)},
		{pair.Server, "s0", netip.PrefixFrom(pair.ServerAddr6, 64)},
	} {
		require.NoError(t, a.ns.AddAddr(a.dev, a.p))
	}
	newIndex, err := pair.Node.Index("eth2")
	require.NoError(t, err)
	require.NotEqual(t, oldIndex, newIndex)
	waitAll(TargetUp)
	s := p.Snapshot()
	require.Equal(t, uint64(len(targets)), s.Rebinds)
	for _, ts := range s.Targets {
		require.Equal(t, TargetUp, ts.State, "%v", ts.Target)
	}
}

// TestLabCloseQuiet: Close stops the link follower without a warning.
func TestLabCloseQuiet(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 27)
	require.NoError(t, err)
	var buf syncBuffer
	p, err := Open(context.Background(), &Config{NetNS: pair.Node.FD(),
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, err)
	require.NoError(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: "eth2"}))
	require.NoError(t, p.Close())
	require.Empty(t, buf.String())
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
