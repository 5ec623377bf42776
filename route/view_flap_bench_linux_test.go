//go:build linux

package route

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"golang.org/x/sys/unix"
)

// flapTrial is one run of BenchmarkViewLinkFlap.
type flapTrial struct {
	cpu    time.Duration   // process CPU (user+system) during the flapping
	wall   time.Duration   // duration of the flapping
	lags   []time.Duration // change -> Lookup shows it, per change
	kernel []time.Duration // change -> the kernel's notification on a bare socket
	own    []time.Duration // kernel notification -> Lookup shows it
	missed int             // changes Lookup never showed before the next one
	snap   ViewSnapshot
}

type flapNote struct {
	at      time.Time
	carrier bool
}

func rusageCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkViewLinkFlap is the trial of issue 12 item 6: 200,000 kernel
// routes (kernelRoutes, through l0 and l1) and a link "flap" carrying a
// few routes whose carrier changes every 100 ms (its peer set down and up,
// flapChanges changes). For each View it measures the process CPU during
// the flapping (the kernel's share of the View's dumps included) and, per
// change, the time until the View's Lookup of a destination through flap
// shows the change (RTNH_F_LINKDOWN set or cleared, as the kernel reports
// it). Runs in the same process: "none" (no View: the flapping's own cost,
// subtracted from the others), "legacy" (the View before coalescing: a
// full dump after every link notification) and "coalesced" (the View as
// it is). Run with -benchtime=1x; about a minute.
func BenchmarkViewLinkFlap(b *testing.B) {
	const flapChanges = 50
	const gap = 100 * time.Millisecond
	lab, node, peer, _ := kernelRoutes(b)
	// flap carries its subnet and a route no other route covers.
	if err := lab.Veth(node, "flap", peer, "pflap", nil); err != nil {
		b.Fatal(err)
	}
	if err := node.AddAddr("flap", netip.MustParsePrefix("198.18.199.1/24")); err != nil {
		b.Fatal(err)
	}
	if err := node.AddRoute(netlab.Route{Dst: netip.MustParsePrefix("198.18.200.0/24"), Dev: "flap"}); err != nil {
		b.Fatal(err)
	}
	dst := netip.MustParseAddr("198.18.200.9")
	flapIdx, err := node.Index("flap")
	if err != nil {
		b.Fatal(err)
	}
	run := func(mode string) flapTrial {
		var v *View
		var ch <-chan netpulse.Event
		if mode != "none" {
			var err error
			v, err = OpenView(context.Background(), &ViewConfig{NetNS: node.FD(), redumpEveryHint: mode == "legacy"})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			subCtx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch = v.Subscribe(subCtx)
			time.Sleep(time.Second) // settle after the initial dump
		}
		var tr flapTrial
		// The kernel's own notification, on a bare socket: the baseline
		// of each change (the kernel changes the routes' flags just
		// before it notifies the link).
		bare, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: node.FD(), Groups: 1 << (unix.RTNLGRP_LINK - 1)})
		if err != nil {
			b.Fatal(err)
		}
		notes := make(chan flapNote, 4*flapChanges)
		bareDone := make(chan struct{})
		go func() {
			defer close(bareDone)
			for {
				msgs, err := bare.Receive()
				if err != nil {
					return
				}
				at := time.Now()
				for _, m := range msgs {
					var lm rtnetlink.LinkMessage
					if m.Header.Type == unix.RTM_NEWLINK && lm.UnmarshalBinary(m.Data) == nil && int(lm.Index) == flapIdx {
						select {
						case notes <- flapNote{at, lm.Flags&unix.IFF_LOWER_UP != 0}:
						default:
						}
					}
				}
			}
		}()
		defer func() { bare.Close(); <-bareDone }()
		down := false
		cpu0, t0 := rusageCPU(b), time.Now()
		for range flapChanges {
			changed := time.Now()
			var err error
			if down {
				err = peer.SetUp("pflap")
			} else {
				err = peer.SetDown("pflap")
			}
			if err != nil {
				b.Fatal(err)
			}
			down = !down
			next := changed.Add(gap)
			seen := v == nil
			for !seen && time.Now().Before(next) {
				select {
				case <-ch:
				case <-time.After(time.Until(next)):
				}
				if r, ok := v.Lookup(dst); ok && r.Dst.Bits() == 24 && r.Nexthops[0].Flags.LinkDown() == down {
					tr.lags = append(tr.lags, time.Since(changed))
					seen = true
				}
			}
			if !seen {
				tr.missed++
			}
			var noted time.Time
			match := func(n flapNote) bool { return n.carrier == !down && !n.at.Before(changed) }
		drain:
			for noted.IsZero() {
				select {
				case n := <-notes:
					if match(n) {
						noted = n.at
					}
					continue
				default:
				}
				select {
				case n := <-notes:
					if match(n) {
						noted = n.at
					}
				case <-time.After(time.Until(next)):
					break drain
				}
			}
			if !noted.IsZero() {
				tr.kernel = append(tr.kernel, noted.Sub(changed))
				if seen && v != nil {
					tr.own = append(tr.own, changed.Add(tr.lags[len(tr.lags)-1]).Sub(noted))
				}
			}
			time.Sleep(time.Until(next))
		}
		tr.cpu, tr.wall = rusageCPU(b)-cpu0, time.Since(t0)
		if v != nil {
			tr.snap = v.Snapshot()
		}
		if down {
			if err := peer.SetUp("pflap"); err != nil {
				b.Fatal(err)
			}
		}
		return tr
	}
	pct := func(l []time.Duration, q float64) float64 {
		if len(l) == 0 {
			return -1
		}
		s := slices.Clone(l)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
	}
	for b.Loop() {
		none := run("none")
		b.Logf("none: kernel notification after the change p50 %.2f ms p99 %.2f ms (%d seen); flapping alone %.1f%% of a core",
			pct(none.kernel, 0.5), pct(none.kernel, 0.99), len(none.kernel), 100*float64(none.cpu)/float64(none.wall))
		for _, mode := range []string{"legacy", "coalesced"} {
			time.Sleep(500 * time.Millisecond)
			tr := run(mode)
			share := 100 * float64(tr.cpu-none.cpu) / float64(tr.wall)
			b.ReportMetric(share, mode+"-cpu-%")
			b.ReportMetric(pct(tr.lags, 0.5), mode+"-lag-p50-ms")
			b.ReportMetric(pct(tr.lags, 0.99), mode+"-lag-p99-ms")
			b.ReportMetric(pct(tr.own, 0.5), mode+"-own-p50-ms")
			b.ReportMetric(pct(tr.own, 0.99), mode+"-own-p99-ms")
			b.ReportMetric(float64(tr.missed), mode+"-missed")
			b.Logf("%s: CPU %v over %v: %.1f%% of a core beyond the flapping's own; change to Lookup p50 %.2f ms p99 %.2f ms max %.2f ms (%d of %d changes not seen within %v); kernel notification p50 %.2f ms p99 %.2f ms; notification to Lookup p50 %.2f ms p99 %.2f ms max %.2f ms; %+v",
				mode, tr.cpu, tr.wall.Round(time.Millisecond), share,
				pct(tr.lags, 0.5), pct(tr.lags, 0.99), pct(tr.lags, 1), tr.missed, flapChanges, gap,
				pct(tr.kernel, 0.5), pct(tr.kernel, 0.99), pct(tr.own, 0.5), pct(tr.own, 0.99), pct(tr.own, 1), tr.snap)
		}
	}
}
