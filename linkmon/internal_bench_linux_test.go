//go:build linux

package linkmon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"golang.org/x/sys/unix"
)

// BenchmarkCheckQuery times one carrier check: an RTM_GETLINK for one
// device and the application of its reply (no change, so no event).
func BenchmarkCheckQuery(b *testing.B) {
	node := netlab.NewPair(b, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{
		{Name: "eth3", Peer: "p3", Veth: &netlab.VethOptions{NICLike: true}}}}).Node
	w, err := Open(context.Background(), &Config{NetNS: node.FD(), NoCarrierCheck: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	idx, _ := node.Index("eth3")
	b.ReportAllocs()
	for b.Loop() {
		w.k.query(idx, nil, true)
	}
}

// BenchmarkEventPath measures the reader's work per carrier change after the
// socket read: split, decode, table update, fan-out and the subscriber's
// receive. allocs/op is allocations per event.
func BenchmarkEventPath(b *testing.B) {
	c := newCore(&config{Config: Config{Buffer: 64}})
	c.start()
	defer c.stop()
	msgs := [2][]byte{linkTestBytes(3, "eth2", false), linkTestBytes(3, "eth2", true)}
	var m linkMsg
	handle := func(buf []byte) {
		typ, _, _, p, _, err := nextMsg(buf)
		if err != nil {
			b.Fatal(err)
		}
		if err := parseLink(typ, p, &m); err != nil {
			b.Fatal(err)
		}
		c.apply(&m, time.Now())
	}
	handle(msgs[1])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.subscribe(ctx)
	<-ch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		handle(msgs[i&1])
		ev := (<-ch).(*LinkEvent)
		if ev.State.Carrier != (i&1 == 1) {
			b.Fatal("wrong event")
		}
		i++
	}
}

// BenchmarkGlinkProbe times one ETHTOOL_GLINK ioctl, the cheap first step of
// a carrier check.
func BenchmarkGlinkProbe(b *testing.B) {
	node := netlab.NewPair(b, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{
		{Name: "eth3", Peer: "p3", Veth: &netlab.VethOptions{NICLike: true}}}}).Node
	var p *glinkProbe
	if err := node.Do(func() error { var err error; p, err = openGlinkProbe(); return err }); err != nil {
		b.Fatal(err)
	}
	defer p.close()
	if up, e := p.link("eth3"); e != 0 || !up {
		b.Fatal(up, e)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.link("eth3")
	}
}

// BenchmarkCheckCPU compares the CPU cost of the carrier check of 8 idle
// NIC-like links with the ETHTOOL_GLINK probe (the default) and with an
// RTM_GETLINK for every check, over b.N seconds each (-benchtime 5x: 5 s).
func BenchmarkCheckCPU(b *testing.B) {
	for _, probe := range []bool{true, false} {
		name := "glink"
		if !probe {
			name = "getlink"
		}
		b.Run(name, func(b *testing.B) {
			var links []netlab.PairLink
			for i := range 8 {
				links = append(links, netlab.PairLink{Name: fmt.Sprintf("eth%d", i), Peer: fmt.Sprintf("p%d", i), Veth: &netlab.VethOptions{NICLike: true}})
			}
			node := netlab.NewPair(b, netlab.PairOptions{Peer: "sw", Links: links}).Node
			w, err := Open(context.Background(), &Config{NetNS: node.FD()})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if !probe {
				w.k.reqMu.Lock()
				w.k.req.probe.close()
				w.k.req.probe = nil
				w.k.reqMu.Unlock()
			}
			time.Sleep(2 * time.Second) // let earlier labs' teardown finish
			var r0, r1 unix.Rusage
			span := time.Duration(b.N) * time.Second
			b.ResetTimer()
			c0 := w.Snapshot().Counters.Checks
			unix.Getrusage(unix.RUSAGE_SELF, &r0)
			time.Sleep(span)
			unix.Getrusage(unix.RUSAGE_SELF, &r1)
			b.StopTimer()
			user := time.Duration(r1.Utime.Nano() - r0.Utime.Nano())
			sys := time.Duration(r1.Stime.Nano() - r0.Stime.Nano())
			checks := w.Snapshot().Counters.Checks - c0
			b.ReportMetric(100*float64(user+sys)/float64(span), "%core")
			b.ReportMetric(float64(user+sys)/float64(checks)/1e3, "us/check")
			b.Logf("%s: user %v sys %v, %d checks", name, user, sys, checks)
		})
	}
}
