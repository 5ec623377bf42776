//go:build linux

package ipmon

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
)

// BenchmarkProbePath measures one probe through the real send and receive
// path (sendmsg on the interface's raw socket, recvmmsg on the receive
// socket, parse, validate, match, state machine) against a server in a lab
// namespace. allocs/op counts every allocation in the process during the
// loop, the receive goroutine's included: the goal is 0.
func BenchmarkProbePath(b *testing.B) {
	for _, fam := range []string{"ipv4", "ipv6"} {
		b.Run(fam, func(b *testing.B) {
			lab := netlab.New(b)
			pair, err := lab.NewIPMonPair("", 60)
			if err != nil {
				b.Fatal(err)
			}
			dst := pair.ServerAddr4
			if fam == "ipv6" {
				dst = pair.ServerAddr6
			}
			cfg := Config{NetNS: pair.Node.FD()}
			p, err := Open(context.Background(), &cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			// An interval of an hour keeps the scheduler out of the way
			// (the first send is at a random point of that hour, so it may
			// happen during the loop, once): the loop drives the probes.
			if err := p.Add(Target{Addr: dst, Interface: "eth2", Interval: time.Hour, Timeout: time.Second}); err != nil {
				b.Fatal(err)
			}
			probe := roundTrip(b, p, dst)
			for range 100 { // warm up: ARP/ND, buffers
				probe()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				probe()
			}
			b.StopTimer()
			s := p.Snapshot()
			b.ReportMetric(float64(s.Targets[0].AvgRTT.Microseconds()), "avg-rtt-us")
		})
	}
}

// roundTrip returns a function that sends one probe to the target at addr
// (already added) and waits, bounded, for its reply: the probe path of the
// allocation test and the probe benchmark.
func roundTrip(tb testing.TB, p *Poller, addr netip.Addr) func() {
	tb.Helper()
	var tg *target
	p.mu.Lock()
	for _, x := range p.targets {
		if x.t.Addr == addr {
			tg = x
		}
	}
	p.mu.Unlock()
	if tg == nil {
		tb.Fatalf("no target %v", addr)
	}
	return func() {
		p.mu.Lock()
		want := p.received + 1
		p.sendProbe(tg, time.Now())
		p.tr.flush()
		p.mu.Unlock()
		for i := 0; ; i++ {
			p.mu.Lock()
			got := p.received
			p.mu.Unlock()
			if got >= want {
				return
			}
			if i > 1e7 {
				tb.Fatal("no reply")
			}
			runtime.Gosched()
		}
	}
}
