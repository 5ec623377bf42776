//go:build linux

package route

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
)

// latencies collects one duration per benchmark iteration and reports
// its percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i].Microseconds())
	}
	b.ReportMetric(pct(0.50), prefix+"p50-µs")
	b.ReportMetric(pct(0.99), prefix+"p99-µs")
	b.ReportMetric(float64(s[len(s)-1].Microseconds()), prefix+"max-µs")
}

// BenchmarkCarrierLossToKernelSteer: carrier lost on eth3 (its switch port
// set down) to the kernel's own lookup (RTM_GETROUTE, polled) naming eth2,
// with a Steerer guarding the subnet (it set ignore_routes_with_linkdown
// on eth3, so no health report is needed). No netpulse code runs on this
// path: it measures the kernel acting on the sysctl the Steerer set; the
// Steerer's own paths are BenchmarkLinkVerdictToKernelSteer,
// BenchmarkIPVerdictToKernelSteer and BenchmarkCarrierLossToSteererView. Baseline in the same run: the
// time until a per-device RTM_GETLINK shows eth3 without carrier.
// Run with -benchtime=200x.
func BenchmarkCarrierLossToKernelSteer(b *testing.B) {
	c := newCIPLab(b, false, false)
	c.steerer(b)
	c.benchCarrierLossToSteer(b)
}

// BenchmarkIPVerdictToKernelSteer: the IP monitor's verdict (Observe:
// eth3's IP path dead) to the kernel's lookup naming eth2. Baseline in the same
// run: one RTM_GETROUTE round trip (the polling resolution).
// Run with -benchtime=200x.
func BenchmarkIPVerdictToKernelSteer(b *testing.B) {
	c := newCIPLab(b, false, false)
	st := c.steerer(b)
	var steer, poll latencies
	for b.Loop() {
		c.timeVerdict(b, st, evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictDead), &poll, &steer)
		b.StopTimer()
		st.Observe(evidence(c.eth3, netpulse.StateUnknown, netpulse.VerdictAlive))
		waitFor(b, 5*time.Second, "kernel back on eth3", func() bool { return c.kernelOut(b) == c.eth3 })
		b.StartTimer()
	}
	steer.report(b, "steer-")
	poll.report(b, "routeget-")
}

// timeVerdict is the measured part of the verdict benchmarks: one
// RTM_GETROUTE round trip (appended to poll), then from feeding st the
// verdict ev until the kernel's lookup names eth2 (appended to steer).
func (c *cipLab) timeVerdict(b *testing.B, st *Steerer, ev netpulse.Evidence, poll, steer *latencies) {
	t0 := time.Now()
	c.kernelOut(b)
	*poll = append(*poll, time.Since(t0))
	start := time.Now()
	st.Observe(ev)
	deadline := start.Add(5 * time.Second)
	for c.kernelOut(b) != c.eth2 {
		if time.Now().After(deadline) {
			b.Fatal("kernel still uses eth3 5 s after the verdict")
		}
	}
	*steer = append(*steer, time.Since(start))
}

// steererNoSysctl is c.steerer with KeepLinkdownSysctl: the kernel keeps
// using a route whose link lost carrier, so only the Steerer can steer.
func (c *cipLab) steererNoSysctl(t testing.TB) *Steerer {
	t.Helper()
	st, err := OpenSteerer(context.Background(), &SteererConfig{
		NetNS: c.node.FD(), Prefixes: []netip.Prefix{c.subnet}, Interfaces: []string{"eth3", "eth2"}, KeepLinkdownSysctl: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkLinkVerdictToKernelSteer: with the Steerer's code on the path
// (unlike BenchmarkCarrierLossToKernelSteer, where the kernel steers by
// itself through the sysctl): carrier lost on eth3, the sysctl left alone
// (KeepLinkdownSysctl), and once the loss is visible (per-device
// RTM_GETLINK, as linkmon's check sees it) the link verdict
// Observe(eth3 link down); measured from the verdict to the kernel's
// lookup naming eth2. Baseline in the same run: one RTM_GETROUTE round
// trip (the polling resolution). Run with -benchtime=100x.
func BenchmarkLinkVerdictToKernelSteer(b *testing.B) {
	c := newCIPLab(b, false, false)
	st := c.steererNoSysctl(b)
	var steer, poll latencies
	for b.Loop() {
		b.StopTimer()
		if err := c.sw.SetDown("p3"); err != nil {
			b.Fatal(err)
		}
		c.carrier(b, "eth3", false)
		b.StartTimer()
		c.timeVerdict(b, st, evidence(c.eth3, netpulse.StateDown, netpulse.VerdictUnknown), &poll, &steer)
		b.StopTimer()
		st.Observe(evidence(c.eth3, netpulse.StateUp, netpulse.VerdictUnknown))
		if err := c.sw.SetUp("p3"); err != nil {
			b.Fatal(err)
		}
		c.carrier(b, "eth3", true)
		waitFor(b, 5*time.Second, "kernel back on eth3", func() bool { return c.kernelOut(b) == c.eth3 })
		b.StartTimer()
	}
	steer.report(b, "steer-")
	poll.report(b, "routeget-")
}

// BenchmarkCarrierLossToSteererView: carrier lost on eth3 with the sysctl
// left alone and no verdict: the Steerer's own View sees the link
// notification, marks eth3's routes linkdown after its coalescing window
// (ViewConfig.Coalesce, 10 ms) and the Steerer installs the override;
// measured from the carrier loss to the kernel's lookup naming eth2.
// Baseline in the same run: until a per-device RTM_GETLINK shows eth3
// without carrier. Run with -benchtime=100x.
func BenchmarkCarrierLossToSteererView(b *testing.B) {
	c := newCIPLab(b, false, false)
	c.steererNoSysctl(b)
	c.benchCarrierLossToSteer(b)
}

// benchCarrierLossToSteer is the loop of the carrier-loss benchmarks: it
// takes eth3's switch port down and polls until the kernel's lookup names
// eth2 (steer-) and a per-device RTM_GETLINK shows eth3 without carrier
// (carrier-seen-), then restores eth3 off the clock.
func (c *cipLab) benchCarrierLossToSteer(b *testing.B) {
	var steer, carrier latencies
	for b.Loop() {
		start := time.Now()
		if err := c.sw.SetDown("p3"); err != nil {
			b.Fatal(err)
		}
		var seenCarrier, seenSteer time.Duration
		deadline := start.Add(5 * time.Second)
		for (seenCarrier == 0 || seenSteer == 0) && time.Now().Before(deadline) {
			if seenSteer == 0 {
				if ans, err := c.node.RouteGet(c.server); err == nil && ans.OutIface == c.eth2 {
					seenSteer = time.Since(start)
				}
			}
			if seenCarrier == 0 {
				if up, err := c.node.Carrier("eth3"); err == nil && !up {
					seenCarrier = time.Since(start)
				}
			}
		}
		if seenSteer == 0 {
			b.Fatal("kernel still uses eth3 5 s after carrier loss")
		}
		steer = append(steer, seenSteer)
		carrier = append(carrier, seenCarrier)
		b.StopTimer()
		if err := c.sw.SetUp("p3"); err != nil {
			b.Fatal(err)
		}
		c.carrier(b, "eth3", true)
		waitFor(b, 5*time.Second, "kernel back on eth3", func() bool { return c.kernelOut(b) == c.eth3 })
		b.StartTimer()
	}
	steer.report(b, "steer-")
	carrier.report(b, "carrier-seen-")
}
