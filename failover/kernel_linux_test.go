//go:build linux

package failover_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var (
	eth3Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24"), netip.MustParsePrefix("2001:db8:10::3/64")}
	eth2Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24"), netip.MustParsePrefix("2001:db8:10::2/64")}
	peerAddrs = []netip.Prefix{netip.MustParsePrefix("198.18.10.200/24"), netip.MustParsePrefix("2001:db8:10::200/64")}
	svcAddrs  = []netip.Prefix{svc4, svc6}
)

const echoPort = 7000

// kernelLab is the topology: a node with eth3 (primary, activated
// first) and eth2 (standby) on one subnet through a bridge in a switch
// namespace, and a peer on the same bridge holding TCP connections to the
// service addresses.
type kernelLab struct {
	t                testing.TB
	node, sw, peer   *netlab.NS
	mac2, mac3       net.HardwareAddr
	act              *failover.KernelActuator
	e                *failover.Engine
	events           chan netpulse.Event
	sniff            *netlab.AnnouncementSniffer
	conns            map[netip.Addr]*bufio.ReadWriter
	standbyHasAddr   bool
	collectorStopped chan struct{}
	real             bool
	poller           *ipmon.Poller
}

// startMonitors opens linkmon and ipmon in the node namespace and lets
// them feed the engine. The peer is the polling target of both members:
// echo from the member's own address, or, for a standby without one, ARP
// probes (IPv4) and echo from its link-local address (IPv6).
func (k *kernelLab) startMonitors(mon *monitors) {
	t := k.t
	ctx, cancel := context.WithCancel(context.Background())
	w, err := linkmon.Open(ctx, &linkmon.Config{NetNS: k.node.FD(),
		Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}}, CheckInterval: mon.checkInterval})
	require.NoError(t, err)
	p, err := ipmon.Open(ctx, &ipmon.Config{NetNS: k.node.FD(), Interval: mon.interval, Timeout: mon.timeout,
		FailAfter: mon.failAfter, RecoverAfter: mon.recoverAfter})
	require.NoError(t, err)
	k.poller = p
	t.Cleanup(func() {
		cancel()
		require.NoError(t, p.Close())
		require.NoError(t, w.Close())
	})
	h, err := health.New(ctx, &health.Config{Links: w, Probes: p})
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	require.NoError(t, h.Feed(ctx, k.e))
	for _, pa := range peerAddrs {
		require.NoError(t, p.Add(ipmon.Target{Interface: "eth3", Addr: pa.Addr()}))
		kind := ipmon.ProbeEcho
		if !k.standbyHasAddr {
			if pa.Addr().Is4() {
				require.NoError(t, p.Add(ipmon.Target{Interface: "eth2", Addr: pa.Addr(), Kind: ipmon.ProbeARP}))
				continue
			}
			kind = ipmon.ProbeLinkLocalEcho
			// A standby without an address has no route to the subnet,
			// and then the kernel sends the link-local echo out of eth3
			// (the interface is a preference for a global destination,
			// not a constraint), which tests eth3's path instead of
			// eth2's. A route through eth2 with a worse metric makes it
			// leave through eth2 without changing what normal traffic
			// uses.
			require.NoError(t, k.node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("2001:db8:10::/64"), Dev: "eth2", Metric: 2048}))
		}
		tgt := ipmon.Target{Interface: "eth2", Addr: pa.Addr(), Kind: kind}
		if kind != ipmon.ProbeLinkLocalEcho {
			require.NoError(t, p.Add(tgt))
			continue
		}
		// The kernel gives eth2 its link-local address a moment after the
		// link came up; until ipmon has seen it, a link-local target is
		// refused.
		var err error
		require.Eventually(t, func() bool { err = p.Add(tgt); return err == nil }, 5*time.Second, 5*time.Millisecond,
			"link-local target on eth2: %v", err)
	}
}

func newKernelLab(t *testing.T, standbyHasAddr bool, gc failover.GroupConfig) *kernelLab {
	return newKernelLabWith(t, standbyHasAddr, gc, nil, nil)
}

// monitors configures the real linkmon and ipmon inputs of a lab.
type monitors struct {
	interval, timeout time.Duration
	failAfter         int
	recoverAfter      int
	// checkInterval is linkmon's carrier check of NIC-like links (0: its
	// default, 10 ms).
	checkInterval time.Duration
	// fastPath makes eth3 a veth whose ends have different ifindexes,
	// whose carrier loss the kernel notifies at once, instead of a
	// NIC-like one.
	fastPath bool
}

// defaultMonitors are generous, for a loaded machine.
var defaultMonitors = &monitors{interval: 20 * time.Millisecond, timeout: 100 * time.Millisecond, failAfter: 3, recoverAfter: 2}

// newKernelLabWith builds the lab; with real set the engine is fed by a
// linkmon Watcher and an ipmon Poller in the node namespace instead of by
// the test.
func newKernelLabWith(t testing.TB, standbyHasAddr bool, gc failover.GroupConfig, acfg *failover.ActuatorConfig, mon *monitors) *kernelLab {
	t.Helper()
	k := &kernelLab{t: t, events: make(chan netpulse.Event, 1024), conns: map[netip.Addr]*bufio.ReadWriter{},
		standbyHasAddr: standbyHasAddr}
	var standbyAddrs []netip.Prefix
	if standbyHasAddr {
		standbyAddrs = eth2Addrs
	}
	// Without strict ARP both node interfaces answer for each other's
	// addresses (KERNEL-FACTS.md, ARP flux) and the peer could reach the
	// service address through eth2 before any failover.
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "switch", ServerNS: "peer", StrictARP: true, Bridge: "br0",
		Links: []netlab.PairLink{
			{Name: "eth3", Peer: "p3", Addrs: eth3Addrs, Veth: &netlab.VethOptions{NICLike: mon == nil || !mon.fastPath}},
			{Name: "eth2", Peer: "p2", Addrs: standbyAddrs},
		},
		Server: &netlab.PairLink{Name: "eth0", Peer: "pp", Addrs: peerAddrs},
	})
	k.node, k.sw, k.peer = pr.Node, pr.Peer, pr.Server
	l2, err := k.node.Link("eth2")
	require.NoError(t, err)
	l3, err := k.node.Link("eth3")
	require.NoError(t, err)
	k.mac2, k.mac3 = l2.Attributes.Address, l3.Attributes.Address

	if acfg == nil {
		acfg = &failover.ActuatorConfig{}
	}
	acfg.NetNS = k.node.FD()
	k.act, err = failover.OpenActuator(context.Background(), acfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.act.Close()) })

	k.startEcho()

	gc.Primary, gc.Standbys, gc.Addresses = "eth3", []string{"eth2"}, svcAddrs
	if gc.MinDwell == 0 {
		gc.NoMinDwell = true
	}
	k.e, err = failover.Open(context.Background(), &failover.Config{Groups: []failover.GroupConfig{gc}, Actuator: k.act})
	require.NoError(t, err)
	k.collectorStopped = make(chan struct{})
	sub := k.e.Subscribe(context.Background())
	go func() {
		defer close(k.collectorStopped)
		for ev := range sub {
			select {
			case k.events <- ev:
			default:
				t.Errorf("event buffer full")
			}
		}
	}()
	t.Cleanup(func() { k.e.Close(); <-k.collectorStopped })

	k.sniff, err = k.peer.SniffAnnouncements("eth0")
	require.NoError(t, err)
	t.Cleanup(func() { k.sniff.Close() })

	if mon != nil {
		k.real = true
		k.startMonitors(mon)
	} else {
		// Evidence as linkmon and ipmon would give it: carrier read from
		// the kernel, IP verdicts alive.
		k.feedLink("eth3")
		k.feedLink("eth2")
		feed(k.e).ip("eth3", netpulse.VerdictAlive)
		feed(k.e).ip("eth2", netpulse.VerdictAlive)
	}
	sw := k.waitSwitch(netpulse.ReasonInitial)
	require.Equal(t, "eth3", sw.To.Name)
	k.requireOn("eth3")
	k.dialAll()
	return k
}

// feedLink reads the link's state from the kernel and gives it to the
// engine, as linkmon would.
func (k *kernelLab) feedLink(name string) {
	if k.real {
		return // linkmon does it
	}
	lm, err := k.node.Link(name)
	require.NoError(k.t, err)
	feed(k.e).link(name, int(lm.Index), lm.Flags&unix.IFF_UP != 0 && lm.Flags&unix.IFF_LOWER_UP != 0)
}

// waitCarrier waits until the kernel reports carrier up or down on the
// node's link, then feeds it to the engine.
func (k *kernelLab) waitCarrier(name string, up bool) {
	require.Eventually(k.t, func() bool {
		c, err := k.node.Carrier(name)
		return err == nil && c == up
	}, 5*time.Second, time.Millisecond)
	k.feedLink(name)
}

func (k *kernelLab) waitEvent(what string, match func(netpulse.Event) bool, timeout time.Duration) netpulse.Event {
	k.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-k.events:
			if a, ok := ev.(*failover.ActionErrorEvent); ok {
				k.t.Logf("action error: %s %s %v: %v", a.Op, a.Interface.Name, a.Address, a.Err)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			extra := ""
			if k.poller != nil {
				for _, ts := range k.poller.Snapshot().Targets {
					extra += fmt.Sprintf("\n  target %+v", ts)
				}
			}
			k.t.Fatalf("no %s within %v; status:\n%s%s", what, timeout, k.e.Snapshot(), extra)
			return nil
		}
	}
}

func (k *kernelLab) waitSwitch(reason netpulse.Reason) *failover.SwitchEvent {
	k.t.Helper()
	ev := k.waitEvent("switch "+reason.String(), func(ev netpulse.Event) bool {
		s, ok := ev.(*failover.SwitchEvent)
		return ok && s.Reason == reason
	}, 10*time.Second)
	return ev.(*failover.SwitchEvent)
}

// noSwitch asserts that no move happens for d.
func (k *kernelLab) noSwitch(d time.Duration) {
	k.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-k.events:
			if s, ok := ev.(*failover.SwitchEvent); ok {
				k.t.Fatalf("unexpected switch: %+v", s)
			}
		case <-deadline:
			return
		}
	}
}

// addrsOn lists the global addresses of the node's link.
func (k *kernelLab) addrsOn(name string) map[netip.Prefix]uint32 {
	idx, err := k.node.Index(name)
	require.NoError(k.t, err)
	c, err := k.node.Dial()
	require.NoError(k.t, err)
	defer c.Close()
	msgs, err := c.Address.List()
	require.NoError(k.t, err)
	out := map[netip.Prefix]uint32{}
	for _, m := range msgs {
		if int(m.Index) != idx || m.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		a, _ := netip.AddrFromSlice(m.Attributes.Address)
		out[netip.PrefixFrom(a.Unmap(), int(m.PrefixLength))] = m.Attributes.Flags
	}
	return out
}

// requireOn asserts that the service addresses are on name and not on the
// other member, IPv6 without DAD.
func (k *kernelLab) requireOn(name string) {
	k.t.Helper()
	other := map[string]string{"eth3": "eth2", "eth2": "eth3"}[name]
	on, off := k.addrsOn(name), k.addrsOn(other)
	for _, p := range svcAddrs {
		flags, ok := on[p]
		require.True(k.t, ok, "%v must be on %s (has %v)", p, name, on)
		if p.Addr().Is6() {
			require.NotZero(k.t, flags&unix.IFA_F_NODAD, "%v added with IFA_F_NODAD", p)
			require.Zero(k.t, flags&unix.IFA_F_TENTATIVE, "%v usable at once", p)
		}
		_, there := off[p]
		require.False(k.t, there, "%v must be gone from %s", p, other)
	}
}

// startEcho runs a TCP echo server in the node namespace.
func (k *kernelLab) startEcho() {
	var ln net.Listener
	require.NoError(k.t, k.node.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", echoPort))
		return err
	}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	k.t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// dialAll opens one TCP connection from the peer to each service address.
func (k *kernelLab) dialAll() {
	for _, p := range svcAddrs {
		var c net.Conn
		require.NoError(k.t, k.peer.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(p.Addr(), echoPort).String(), 5*time.Second)
			return err
		}))
		k.t.Cleanup(func() { c.Close() })
		k.conns[p.Addr()] = bufio.NewReadWriter(bufio.NewReader(deadlined{c}), bufio.NewWriter(c))
		k.echo(p.Addr(), "hello")
	}
}

type deadlined struct{ net.Conn }

var readTimeout = 10 * time.Second

func (d deadlined) Read(b []byte) (int, error) {
	d.SetReadDeadline(time.Now().Add(readTimeout))
	return d.Conn.Read(b)
}

// echo sends a line over the established connection to addr and requires
// it back: the connection keeps working.
func (k *kernelLab) echo(addr netip.Addr, msg string) {
	k.t.Helper()
	rw := k.conns[addr]
	_, err := rw.WriteString(msg + "\n")
	require.NoError(k.t, err)
	require.NoError(k.t, rw.Flush())
	line, err := rw.ReadString('\n')
	require.NoError(k.t, err, "TCP connection to %v must keep working", addr)
	require.Equal(k.t, msg, strings.TrimSpace(line))
}

func (k *kernelLab) echoAll(msg string) {
	k.t.Helper()
	for _, p := range svcAddrs {
		k.echo(p.Addr(), msg)
	}
}

// requireAnnounced waits for the gratuitous ARP and the unsolicited NA of
// the service addresses at mac, and checks their form.
func (k *kernelLab) requireAnnounced(mac net.HardwareAddr) {
	k.t.Helper()
	a, err := k.sniff.Wait(svc4.Addr(), mac, 5*time.Second)
	require.NoError(k.t, err, "gratuitous ARP for %v at %v", svc4.Addr(), mac)
	require.Equal(k.t, mac, a.Source, "sent from the new member")
	require.Equal(k.t, 1, a.Op)
	n, err := k.sniff.Wait(svc6.Addr(), mac, 5*time.Second)
	require.NoError(k.t, err, "unsolicited NA for %v at %v", svc6.Addr(), mac)
	require.Equal(k.t, 255, n.HopLimit)
	require.True(k.t, n.Override)
	require.False(k.t, n.Solicited)
	require.Equal(k.t, netip.MustParseAddr("ff02::1"), n.Dst)
}

func forEachStandbyKind(t *testing.T, fn func(t *testing.T, standbyHasAddr bool)) {
	for _, has := range []bool{true, false} {
		name := "standby-with-address"
		if !has {
			name = "standby-without-address"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, has)
		})
	}
}

// TestKernelCarrierLoss: carrier lost on eth3 moves the addresses to eth2,
// the peer gets the gratuitous ARP and the unsolicited NA, the TCP
// connections keep working; the primary recovers and the addresses fail
// back under "auto".
func TestKernelCarrierLoss(t *testing.T) {
	forEachStandbyKind(t, func(t *testing.T, has bool) {
		k := newKernelLab(t, has, failover.GroupConfig{HoldDown: 500 * time.Millisecond})
		k.sniff.Drain()

		require.NoError(t, k.sw.SetDown("p3"))
		k.waitCarrier("eth3", false)
		sw := k.waitSwitch(netpulse.ReasonLinkDown)
		require.Equal(t, "eth3", sw.From.Name)
		require.Equal(t, "eth2", sw.To.Name)
		t.Logf("carrier loss: moved in %v after the evidence", sw.Latency)
		k.requireAnnounced(k.mac2)
		k.requireOn("eth2")
		k.echoAll("after carrier loss")
		st := k.e.Snapshot()
		require.Equal(t, netpulse.FailureLinkIP, st.Groups[0].Members[0].Failure)
		require.Equal(t, netpulse.HealthLinkDown, st.Groups[0].Members[0].Health)

		// Repeated announcements: five rounds in all, 200 ms apart.
		var times []time.Time
		require.Eventually(t, func() bool {
			times = times[:0]
			for _, a := range k.sniff.Seen() {
				if a.Addr == svc4.Addr() && string(a.HardwareAddr) == string(k.mac2) {
					times = append(times, a.Time)
				}
			}
			return len(times) >= 5
		}, 5*time.Second, 10*time.Millisecond)
		// A sleep that is the scenario: longer than the 200 ms between
		// rounds, so that a sixth announcement would have been seen.
		time.Sleep(300 * time.Millisecond)
		n := 0
		for _, a := range k.sniff.Seen() {
			if a.Addr == svc4.Addr() && string(a.HardwareAddr) == string(k.mac2) {
				n++
			}
		}
		require.GreaterOrEqual(t, times[4].Sub(times[0]), 700*time.Millisecond, "spaced about 200 ms apart")
		require.Equal(t, 5, n, "five gratuitous ARPs, no more")

		// The primary recovers: detected, and failed back after the
		// hold-down.
		require.NoError(t, k.sw.SetUp("p3"))
		k.waitCarrier("eth3", true)
		fb := k.waitSwitch(netpulse.ReasonFailback)
		require.Equal(t, "eth3", fb.To.Name)
		k.requireAnnounced(k.mac3)
		k.requireOn("eth3")
		k.echoAll("after failback")
	})
}

// TestKernelIPOnlyFailure: eth3 keeps carrier but its bridge port is
// detached (the path is dead); on the IP verdict the addresses move and the
// TCP connections keep working, which needs the return path steered away
// from eth3's subnet route. The primary's recovery is reported and, under
// "manual", not failed back until asked.
func TestKernelIPOnlyFailure(t *testing.T) {
	forEachStandbyKind(t, func(t *testing.T, has bool) {
		k := newKernelLab(t, has, failover.GroupConfig{Failback: failover.FailbackManual, HoldDown: 100 * time.Millisecond})
		k.sniff.Drain()

		require.NoError(t, k.sw.SetMaster("p3", ""))
		_, err := k.node.Ping("eth3", peerAddrs[0].Addr(), 300*time.Millisecond)
		require.ErrorIs(t, err, netlab.ErrNoReply, "the path through eth3 is dead")
		up, err := k.node.Carrier("eth3")
		require.NoError(t, err)
		require.True(t, up, "carrier stays")
		// The verdict ipmon would reach.
		feed(k.e).ip("eth3", netpulse.VerdictDead)
		sw := k.waitSwitch(netpulse.ReasonIPDown)
		require.Equal(t, "eth2", sw.To.Name)
		k.requireAnnounced(k.mac2)
		k.requireOn("eth2")
		k.echoAll("after IP-only failure")
		m := k.e.Snapshot().Groups[0].Members[0]
		require.Equal(t, netpulse.FailureIPOnly, m.Failure)
		require.Equal(t, netpulse.StateUp, m.Link)

		// eth3's path comes back: reported, not failed back.
		require.NoError(t, k.sw.SetMaster("p3", "br0"))
		feed(k.e).ip("eth3", netpulse.VerdictAlive)
		ev := k.waitEvent("eth3 up", func(ev netpulse.Event) bool {
			h, ok := ev.(*failover.HealthEvent)
			return ok && h.Interface.Name == "eth3" && h.To == netpulse.HealthUp
		}, 5*time.Second).(*failover.HealthEvent)
		require.Equal(t, netpulse.ReasonIPUp, ev.Reason)
		k.noSwitch(time.Second)
		require.True(t, k.e.Snapshot().Groups[0].FailbackPending)
		k.requireOn("eth2")
		k.echoAll("still on the standby")

		require.NoError(t, k.e.Failback("eth3"))
		k.waitSwitch(netpulse.ReasonFailback)
		k.requireAnnounced(k.mac3)
		k.requireOn("eth3")
		k.echoAll("after manual failback")
	})
}

// TestKernelReturnPathNeeded proves the scenario of TestKernelIPOnlyFailure:
// without the return path steered, the address moves and is announced, but
// the node's replies still take eth3's subnet route (added first) into the
// dead port, and the connection stalls.
func TestKernelReturnPathNeeded(t *testing.T) {
	t.Parallel()
	k := newKernelLabWith(t, true, failover.GroupConfig{}, &failover.ActuatorConfig{NoReturnPath: true}, nil)
	require.NoError(t, k.sw.SetMaster("p3", ""))
	feed(k.e).ip("eth3", netpulse.VerdictDead)
	k.waitSwitch(netpulse.ReasonIPDown)
	k.requireAnnounced(k.mac2)
	k.requireOn("eth2")
	rw := k.conns[svc4.Addr()]
	_, err := rw.WriteString("lost\n")
	require.NoError(t, err)
	require.NoError(t, rw.Flush())
	c := rw.Reader
	done := make(chan error, 1)
	go func() { _, err := c.ReadString('\n'); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err, "the reply must not arrive without the return path")
	case <-time.After(2 * time.Second):
		// Stalled, as expected; the read ends when the lab closes.
	}
}

// TestKernelStandbyDeadBeforeFailure: the standby's path dies while it is
// idle; it is reported at once, and when the primary then loses carrier
// nothing moves: the group is subnet-down and the addresses stay.
func TestKernelStandbyDeadBeforeFailure(t *testing.T) {
	forEachStandbyKind(t, func(t *testing.T, has bool) {
		k := newKernelLab(t, has, failover.GroupConfig{})
		require.NoError(t, k.sw.SetMaster("p2", ""))
		feed(k.e).ip("eth2", netpulse.VerdictDead)
		h := k.waitEvent("eth2 ip-down", func(ev netpulse.Event) bool {
			h, ok := ev.(*failover.HealthEvent)
			return ok && h.Interface.Name == "eth2" && h.To != netpulse.HealthUp
		}, 5*time.Second).(*failover.HealthEvent)
		require.Equal(t, netpulse.HealthIPDown, h.To)
		require.Equal(t, netpulse.FailureIPOnly, h.Failure)

		require.NoError(t, k.sw.SetDown("p3"))
		k.waitCarrier("eth3", false)
		g := k.waitEvent("subnet-down", func(ev netpulse.Event) bool {
			_, ok := ev.(*failover.GroupEvent)
			return ok
		}, 5*time.Second).(*failover.GroupEvent)
		require.True(t, g.SubnetDown)
		k.noSwitch(500 * time.Millisecond)
		k.requireOn("eth3")
		st := k.e.Snapshot()
		require.Equal(t, failover.GroupSubnetDown, st.Groups[0].State)
		require.Contains(t, st.String(), "subnet-down")
		t.Logf("\n%s", st)
	})
}

// TestKernelActuatorErrors: the kernel actuator's idempotence and errors.
func TestKernelActuatorErrors(t *testing.T) {
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node := pr.Node
	act, err := failover.OpenActuator(context.Background(), &failover.ActuatorConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer act.Close()
	ctx := t.Context()
	eth2 := netpulse.Interface{Name: "eth2"}
	for i := 0; i < 2; i++ {
		require.NoError(t, act.AddAddress(ctx, eth2, svc4), "add is idempotent")
		require.NoError(t, act.AddAddress(ctx, eth2, svc6))
		require.NoError(t, act.SteerReturn(ctx, eth2, svcAddrs), "steer is idempotent")
	}
	h, err := act.Holders(ctx, svc6)
	require.NoError(t, err)
	idx, err := node.Index("eth2")
	require.NoError(t, err)
	require.Equal(t, []netpulse.Interface{{Index: idx, Name: "eth2"}}, h)
	for i := 0; i < 2; i++ {
		require.NoError(t, act.RemoveAddress(ctx, eth2, svc4), "remove is idempotent")
	}
	h, err = act.Holders(ctx, svc4)
	require.NoError(t, err)
	require.Empty(t, h)
	require.NoError(t, act.RemoveAddress(ctx, netpulse.Interface{Name: "gone0"}, svc4), "no interface: nothing to remove")
	err = act.AddAddress(ctx, netpulse.Interface{Name: "gone0"}, svc4)
	require.Error(t, err)
	require.True(t, errors.Is(err, unix.ENODEV), "%v", err)
	require.Error(t, act.Announce(ctx, netpulse.Interface{Name: "gone0"}, svcAddrs))
	require.NoError(t, act.Announce(ctx, eth2, []netip.Prefix{svc6}))
	require.NoError(t, act.Close())
	require.NoError(t, act.Close(), "Close twice")
	require.Error(t, act.AddAddress(ctx, eth2, svc4), "closed")
}

// TestKernelRealInputs runs the failures again with the engine fed by the
// real linkmon Watcher and ipmon Poller: carrier loss on eth3 (seen by
// linkmon), then, carrier back and failed back, eth3's bridge port detached
// (seen by ipmon); each time the addresses move, are announced and the TCP
// connections keep working.
func TestKernelRealInputs(t *testing.T) {
	forEachStandbyKind(t, func(t *testing.T, has bool) {
		k := newKernelLabWith(t, has, failover.GroupConfig{HoldDown: 500 * time.Millisecond}, nil, defaultMonitors)
		k.sniff.Drain()

		require.NoError(t, k.sw.SetDown("p3"))
		sw := k.waitSwitch(netpulse.ReasonLinkDown)
		require.Equal(t, "eth2", sw.To.Name)
		k.requireAnnounced(k.mac2)
		k.requireOn("eth2")
		k.echoAll("after carrier loss")

		require.NoError(t, k.sw.SetUp("p3"))
		k.waitSwitch(netpulse.ReasonFailback)
		k.requireAnnounced(k.mac3)
		k.requireOn("eth3")
		k.echoAll("after failback")

		require.NoError(t, k.sw.SetMaster("p3", ""))
		sw = k.waitSwitch(netpulse.ReasonIPDown)
		require.Equal(t, "eth2", sw.To.Name)
		t.Logf("IP-only failure: moved %v after ipmon's verdict", sw.Latency)
		k.requireAnnounced(k.mac2)
		k.requireOn("eth2")
		k.echoAll("after IP-only failure")
		m := k.e.Snapshot().Groups[0].Members
		require.Equal(t, netpulse.FailureIPOnly, m[0].Failure)
		require.Equal(t, netpulse.VerdictAlive, m[1].IP, "the standby's IP path is watched")

		// The primary's path recovers: seen by ipmon, failed back.
		require.NoError(t, k.sw.SetMaster("p3", "br0"))
		k.waitSwitch(netpulse.ReasonFailback)
		k.requireOn("eth3")
		k.echoAll("after second failback")
		t.Logf("\n%s", k.e.Snapshot())
	})
}
