//go:build linux

package netlab_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
)

// BenchmarkBuildTwoHostLab times building (and tearing down) the smallest
// lab: two namespaces, one veth pair with an IPv4 and an IPv6 address on
// each end. It reports the median and p99 of the build time.
func BenchmarkBuildTwoHostLab(b *testing.B) {
	netlab.Require(b)
	var builds []time.Duration
	for b.Loop() {
		start := time.Now()
		lab, err := netlab.Open(netlab.Config{})
		if err != nil {
			b.Fatal(err)
		}
		x, err := lab.NewNS("a")
		if err != nil {
			b.Fatal(err)
		}
		y, err := lab.NewNS("b")
		if err != nil {
			b.Fatal(err)
		}
		if err := lab.Veth(x, "a0", y, "b0", nil); err != nil {
			b.Fatal(err)
		}
		for _, s := range []struct {
			ns  *netlab.NS
			dev string
			p   string
		}{{x, "a0", "198.18.0.1/24"}, {x, "a0", "2001:db8::1/64"}, {y, "b0", "198.18.0.2/24"}, {y, "b0", "2001:db8::2/64"}} {
			if err := s.ns.AddAddr(s.dev, netip.MustParsePrefix(s.p)); err != nil {
				b.Fatal(err)
			}
		}
		builds = append(builds, time.Since(start))
		if err := lab.Close(); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(builds)
	b.ReportMetric(float64(builds[len(builds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(builds[len(builds)*99/100].Microseconds())/1000, "p99-ms")
}
