//go:build linux

package linkmon_test

// Benchmarks of the performance goals. Each honours b.N: one
// operation is one trial (a carrier loss and its return), or one second of
// a CPU measurement, and the figures are percentiles over the b.N trials.
// Choose the trials with -benchtime Nx, e.g. the figures in the README:
//
//	go test -run '^$' -bench 'CarrierLossLatency|WatcherAllocs' -benchtime 500x ./linkmon/
//	go test -run '^$' -bench NICLikeDetection -benchtime 50x ./linkmon/
//	go test -run '^$' -bench IdleCPU -benchtime 10x ./linkmon/
//
// (ns/op is then the mean time of a whole trial; the reported metrics are
// what the trials measure.)

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/linkmon"
	"golang.org/x/sys/unix"
)

// stamp is a carrier change seen by a listener, and when.
type stamp struct {
	at      time.Time
	carrier bool
}

// bareListener reads link notifications of one namespace with a bare
// mdlayher/netlink socket: the kernel's floor for the latency figures.
func bareListener(b *testing.B, ns *netlab.NS, index int) (<-chan stamp, func()) {
	b.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns.FD(), Groups: 1 << (unix.RTNLGRP_LINK - 1)})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.SetReadBuffer(4 << 20); err != nil {
		b.Fatal(err)
	}
	ch := make(chan stamp, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := -1
		for {
			msgs, err := c.Receive()
			if err != nil {
				return // closed
			}
			now := time.Now()
			for _, m := range msgs {
				if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < 16 {
					continue
				}
				if int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))) != index {
					continue
				}
				carrier := binary.NativeEndian.Uint32(m.Data[8:12])&unix.IFF_LOWER_UP != 0
				if c := map[bool]int{false: 0, true: 1}[carrier]; c != last {
					last = c
					ch <- stamp{now, carrier}
				}
			}
		}
	}()
	return ch, func() { c.Close(); <-done }
}

// watcherListener stamps the carrier events of one link.
func watcherListener(w *linkmon.Watcher, name string) (<-chan stamp, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ev := w.Subscribe(ctx)
	ch := make(chan stamp, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for x := range ev {
			now := time.Now()
			if e, ok := x.(*linkmon.LinkEvent); ok && e.State.Name == name && !e.Initial && e.State.Carrier != e.Previous.Carrier {
				ch <- stamp{now, e.State.Carrier}
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

func waitStamp(b *testing.B, ch <-chan stamp, carrier bool, timeout time.Duration) time.Time {
	b.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s := <-ch:
			if s.carrier == carrier {
				return s.at
			}
		case <-t.C:
			b.Fatalf("no carrier=%v within %v", carrier, timeout)
		}
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func benchLab(b *testing.B) *pair {
	p := newPair(b)
	return p
}

// BenchmarkCarrierLossLatency: peer set down (timestamp just before the
// netlink request) to carrier-loss event at a subscriber, one trial per
// b.N, next to a bare mdlayher/netlink socket reading the same
// notification.
func BenchmarkCarrierLossLatency(b *testing.B) {
	trials := b.N
	p := benchLab(b)
	p.veth(b, 2, false)
	w := p.open(b, linkmon.Config{Interfaces: []netpulse.Interface{{Name: "eth2"}}})
	idx, _ := p.node.Index("eth2")
	pidx, _ := p.sw.Index("p2")
	wch, stopW := watcherListener(w, "eth2")
	defer stopW()
	bch, stopB := bareListener(b, p.node, idx)
	defer stopB()
	var lw, lb []time.Duration
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for range trials {
		time.Sleep(time.Millisecond) // let both readers park
		t0 := time.Now()
		if err := p.sw.SetAdminByIndex(uint32(pidx), false); err != nil {
			b.Fatal(err)
		}
		tw := waitStamp(b, wch, false, 5*time.Second)
		tb := waitStamp(b, bch, false, 5*time.Second)
		lw, lb = append(lw, tw.Sub(t0)), append(lb, tb.Sub(t0))
		if err := p.sw.SetAdminByIndex(uint32(pidx), true); err != nil {
			b.Fatal(err)
		}
		waitStamp(b, wch, true, 5*time.Second)
		waitStamp(b, bch, true, 5*time.Second)
	}
	runtime.ReadMemStats(&ms1)
	b.StopTimer()
	b.ReportMetric(ms(pct(lw, 50)), "watcher-p50-ms")
	b.ReportMetric(ms(pct(lw, 99)), "watcher-p99-ms")
	b.ReportMetric(ms(pct(lb, 50)), "bare-p50-ms")
	b.ReportMetric(ms(pct(lb, 99)), "bare-p99-ms")
	b.ReportMetric(float64(pct(lw, 50))/float64(pct(lb, 50)), "p50-ratio")
	b.ReportMetric(float64(w.Snapshot().Counters.Overruns), "overruns")
	b.Logf("%d trials; process mallocs per trial (flap requests, bare socket and watcher together): %.0f",
		trials, float64(ms1.Mallocs-ms0.Mallocs)/float64(trials))
}

// BenchmarkWatcherAllocsPerEvent counts the allocations the watcher adds per
// delivered event on the real kernel path: the same flaps run with and
// without a watcher subscribed (b.N flaps each), and the difference is
// divided by the events.
func BenchmarkWatcherAllocsPerEvent(b *testing.B) {
	flaps := b.N
	p := benchLab(b)
	p.veth(b, 2, false)
	pidx, _ := p.sw.Index("p2")
	flapAll := func(wch <-chan stamp) uint64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for range flaps {
			p.sw.SetAdminByIndex(uint32(pidx), false)
			if wch != nil {
				for s := <-wch; s.carrier; s = <-wch { // no timer: it would allocate
				}
			}
			p.sw.SetAdminByIndex(uint32(pidx), true)
			if wch != nil {
				for s := <-wch; !s.carrier; s = <-wch {
				}
			}
		}
		runtime.ReadMemStats(&m1)
		return m1.Mallocs - m0.Mallocs
	}
	b.ResetTimer()
	base := flapAll(nil)
	w := p.open(b, linkmon.Config{Interfaces: []netpulse.Interface{{Name: "eth2"}}})
	wch, stop := watcherListener(w, "eth2")
	defer stop()
	with := flapAll(wch)
	b.StopTimer()
	events := w.Snapshot().Counters.Events
	b.ReportMetric(float64(int64(with)-int64(base))/float64(events), "allocs/event")
	b.Logf("mallocs: %d without watcher, %d with; %d events", base, with, events)
}

// BenchmarkNICLikeDetection: carrier loss on a NIC-like link while another
// NIC-like link flaps every 100 ms. First the bare notification alone (no
// watcher: nothing makes the kernel hurry), then the watcher with its
// default carrier check; b.N trials each, same run.
func BenchmarkNICLikeDetection(b *testing.B) {
	trials := b.N
	p := benchLab(b)
	p.veth(b, 3, true)
	p.veth(b, 4, true)
	idx, _ := p.node.Index("eth3")
	pidx, _ := p.sw.Index("p3")
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; i < 10000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.sw.Flap("p4", 1, 50*time.Millisecond)
		}
	}()
	defer func() { close(stop); <-churned }()

	run := func(ch <-chan stamp) []time.Duration {
		var out []time.Duration
		for range trials {
			// A random pause, so that losses fall at every phase of the
			// check interval.
			time.Sleep(20*time.Millisecond + rand.N(20*time.Millisecond))
			t0 := time.Now()
			p.sw.SetAdminByIndex(uint32(pidx), false)
			out = append(out, waitStamp(b, ch, false, 5*time.Second).Sub(t0))
			p.sw.SetAdminByIndex(uint32(pidx), true)
			waitStamp(b, ch, true, 5*time.Second)
		}
		return out
	}
	b.ResetTimer()
	bch, stopB := bareListener(b, p.node, idx)
	bare := run(bch)
	stopB()

	w := p.open(b, linkmon.Config{})
	wch, stopW := watcherListener(w, "eth3")
	defer stopW()
	watched := run(wch)
	b.StopTimer()
	b.ReportMetric(ms(pct(watched, 50)), "watcher-p50-ms")
	b.ReportMetric(ms(pct(watched, 99)), "watcher-p99-ms")
	b.ReportMetric(ms(pct(bare, 50)), "bare-p50-ms")
	b.ReportMetric(ms(pct(bare, 99)), "bare-p99-ms")
	c := w.Snapshot().Counters
	b.Logf("checks %d, of which found a change first: %d", c.Checks, c.CheckChanges)
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleCPU: process CPU over b.N seconds (-benchtime 10x: 10 s)
// with a watcher on quiet links:
// none (the test process alone), a bare Go ticker at 10 ms doing nothing
// (the floor of any 10 ms poll in Go on this machine), 100 fast-path veths,
// 1, 8 and 64 NIC-like veths with the default check, and 64 with an
// explicit 10 ms.
func BenchmarkIdleCPU(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n       int
		nicLike bool
		watch   bool
		iv      time.Duration
		ticker  bool
	}{
		{"no-watcher", 0, false, false, 0, false},
		{"bare-ticker-10ms", 0, false, false, 0, true},
		{"nic-1", 1, true, true, 0, false},
		{"fast-100", 100, false, true, 0, false},
		{"nic-8", 8, true, true, 0, false},
		{"nic-64-default", 64, true, true, 0, false},
		{"nic-64-10ms", 64, true, true, 10 * time.Millisecond, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchLab(b)
			for i := range tc.n {
				p.veth(b, 10+i, tc.nicLike)
			}
			if tc.watch {
				p.open(b, linkmon.Config{CheckInterval: tc.iv})
			}
			if tc.ticker {
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(10 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				}()
				defer func() { close(stop); <-done }()
			}
			time.Sleep(2 * time.Second) // let earlier labs' teardown finish
			runtime.GC()
			span := time.Duration(b.N) * time.Second
			b.ResetTimer()
			c0 := cpuTime()
			time.Sleep(span)
			used := cpuTime() - c0
			b.StopTimer()
			b.ReportMetric(100*float64(used)/float64(span), "%core")
			if tc.n > 0 {
				b.ReportMetric(100*float64(used)/float64(span)/float64(tc.n), "%core/link")
			}
			b.Logf("%s: %v CPU in %v", tc.name, used, span)
		})
	}
}
