//go:build linux

package failover_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// percentiles reports p50 and p99 of ds (in ms) under the given prefix.
func percentiles(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), prefix+"-p50-ms")
	b.ReportMetric(q(0.99), prefix+"-p99-ms")
}

// BenchmarkCarrierLossToGARP: carrier loss on the primary (a NIC-like veth,
// whose carrier-loss notification the kernel may hold back ~1 s) to the
// peer receiving the first gratuitous ARP from the standby, with the real
// linkmon feeding the engine, with its default 10 ms carrier check and
// with a 5 ms one; and, for comparison, on a link whose carrier loss the
// kernel notifies at once (a veth with different ifindexes at its ends:
// veth, macvlan, VLAN and other stacked devices), where no check is
// involved. Run with -benchtime=200x for 200 trials. Reported next to it,
// from the same trials: linkmon's detection (the input failover depends on)
// and failover's own share (evidence to the GARP at the peer).
//
// The peer's sniffer runs in this process and stamps a packet with
// time.Now() when its goroutine reads it, so failover's share also holds
// that goroutine's wake-up, and the work the engine does right after the
// GARP in the same step (the survivors' own announcements) competes with
// it for the two CPUs. The deletions the move makes on the member it leaves
// no longer trigger a verification of the new member (DriftHint says what
// was deleted).
func BenchmarkCarrierLossToGARP(b *testing.B) {
	for _, check := range []time.Duration{10 * time.Millisecond, 5 * time.Millisecond} {
		b.Run("nic-like/linkmon-check="+check.String(), func(b *testing.B) {
			mon := *defaultMonitors
			mon.checkInterval = check
			benchCarrierLoss(b, &mon)
		})
	}
	b.Run("notified-at-once", func(b *testing.B) {
		mon := *defaultMonitors
		mon.fastPath = true
		benchCarrierLoss(b, &mon)
	})
}

func benchCarrierLoss(b *testing.B, mon *monitors) {
	k := newKernelLabWith(b, true, failover.GroupConfig{NoHoldDown: true, NoMinDwell: true}, nil, mon)
	var total, detect, own []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.sniff.Drain()
		t0 := time.Now()
		if err := k.sw.SetDown("p3"); err != nil {
			b.Fatal(err)
		}
		a, err := k.sniff.Wait(svc4.Addr(), k.mac2, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		sw := k.waitSwitch(netpulse.ReasonLinkDown)
		total = append(total, a.Time.Sub(t0))
		detect = append(detect, sw.EvidenceTime.Sub(t0))
		own = append(own, a.Time.Sub(sw.EvidenceTime))
		b.StopTimer()
		if err := k.sw.SetUp("p3"); err != nil {
			b.Fatal(err)
		}
		// The bridge may take up to a second (the kernel's linkwatch) to
		// forward through p3 again; until then ipmon may find eth3's path
		// dead. Start the next trial once the path works and the
		// addresses are back on eth3.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := k.node.Ping("eth3", peerAddrs[0].Addr(), 50*time.Millisecond); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("eth3's path did not come back")
			}
		}
		k.waitActive("eth3", 10*time.Second)
		time.Sleep(50 * time.Millisecond)
		b.StartTimer()
	}
	b.StopTimer()
	percentiles(b, "garp", total)
	percentiles(b, "linkmon", detect)
	percentiles(b, "failover", own)
}

// BenchmarkIPFailureToStandbyAnswer: eth3's bridge port detached (carrier
// stays) to the service address answering the peer's echo through the
// standby, with ipmon probing every 10 ms, timeout 10 ms, 3 misses. The
// peer sends an echo to the address every millisecond. Reported next to
// it: ipmon's detection (its verdict) and the rest.
func BenchmarkIPFailureToStandbyAnswer(b *testing.B) {
	k := newKernelLabWith(b, true, failover.GroupConfig{NoHoldDown: true, NoMinDwell: true}, nil,
		&monitors{interval: 10 * time.Millisecond, timeout: 10 * time.Millisecond, failAfter: 3, recoverAfter: 2})
	p := startPinger(b, k, svc4.Addr())
	if _, err := p.firstReplyAfter(time.Now(), 2*time.Second); err != nil {
		b.Fatalf("no echo reply from %v before the failure: %v", svc4.Addr(), err)
	}
	// The primary's own probes must answer, or its failure cannot be seen
	// (once, after the carrier benchmarks had run for minutes in the same
	// process, eth3's targets stayed "unverified": not explained yet).
	k.waitActive("eth3", 10*time.Second)
	var total, detect, rest []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := k.sw.SetMaster("p3", ""); err != nil {
			b.Fatal(err)
		}
		// Only requests sent once the port is detached can prove the
		// standby answers.
		answered, err := p.firstReplyAfter(time.Now(), 5*time.Second)
		if err != nil {
			b.Fatalf("trial %d: no echo reply through the standby: %v\n%s", i, err, k.e.Snapshot())
		}
		sw := k.waitSwitch(netpulse.ReasonIPDown)
		total = append(total, answered.Sub(t0))
		detect = append(detect, sw.EvidenceTime.Sub(t0))
		rest = append(rest, answered.Sub(sw.EvidenceTime))
		b.StopTimer()
		if err := k.sw.SetMaster("p3", "br0"); err != nil {
			b.Fatal(err)
		}
		k.waitActive("eth3", 10*time.Second)
		time.Sleep(50 * time.Millisecond)
		b.StartTimer()
	}
	b.StopTimer()
	percentiles(b, "answer", total)
	percentiles(b, "ipmon", detect)
	percentiles(b, "rest", rest)
}

// waitActive waits until the addresses are on name and its health is up
// with a live IP path, draining events.
func (k *kernelLab) waitActive(name string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		g := k.e.Snapshot().Groups[0]
		ok := g.Active == name
		for _, m := range g.Members {
			if m.Name == name && (m.Health != netpulse.HealthUp || m.IP != netpulse.VerdictAlive) {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("addresses not back on a healthy %s:\n%s", name, k.e.Snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		select {
		case <-k.events:
		default:
			return
		}
	}
}

// pinger sends an ICMP echo from the peer to addr every millisecond and
// records when replies arrive, with the send time of their request.
type pinger struct {
	mu      sync.Mutex
	sent    map[uint16]time.Time
	replies chan [2]time.Time // send time, arrival
}

func startPinger(b *testing.B, k *kernelLab, addr netip.Addr) *pinger {
	var c *icmp.PacketConn
	if err := k.peer.Do(func() error {
		var err error
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	p := &pinger{sent: map[uint16]time.Time{}, replies: make(chan [2]time.Time, 4096)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); c.Close(); wg.Wait() })
	const id = 0x4e50
	dst := &net.IPAddr{IP: addr.AsSlice()}
	wg.Add(2)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: int(seq), Data: []byte("failover-bench")}}).Marshal(nil)
			p.mu.Lock()
			p.sent[seq] = time.Now()
			p.mu.Unlock()
			c.WriteTo(m, dst)
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if ip, ok := from.(*net.IPAddr); !ok || !ip.IP.Equal(dst.IP) || n < 8 || buf[0] != 0 || binary.BigEndian.Uint16(buf[4:]) != id {
				continue
			}
			seq := binary.BigEndian.Uint16(buf[6:])
			p.mu.Lock()
			at, ok := p.sent[seq]
			delete(p.sent, seq)
			p.mu.Unlock()
			if ok {
				select {
				case p.replies <- [2]time.Time{at, now}:
				default:
				}
			}
		}
	}()
	return p
}

// firstReplyAfter returns the arrival time of the first reply to a request
// sent after t0.
func (p *pinger) firstReplyAfter(t0 time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case r := <-p.replies:
			if r[0].After(t0) {
				return r[1], nil
			}
		case <-deadline:
			return time.Time{}, context.DeadlineExceeded
		}
	}
}
