//go:build linux

package route

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"golang.org/x/sys/unix"
)

// kernelTable fills a lab namespace with 100,000 IPv4 and 100,000 IPv6
// routes (random prefixes as in bigTable, through two links, one in ten
// prefixes with a second route through the other link) and returns it with
// a View of it.
func kernelTable(b *testing.B) (*netlab.NS, *View, []netip.Addr) {
	b.Helper()
	_, node, _, dsts := kernelRoutes(b)
	start := time.Now()
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	b.Logf("view opened (dump of %d routes) in %v", v.Snapshot().Routes, time.Since(start))
	return node, v, dsts
}

// kernelRoutes fills the lab namespace as kernelTable says, without a
// View, and returns the node, its peer namespace and random destinations.
func kernelRoutes(b *testing.B) (*netlab.Lab, *netlab.NS, *netlab.NS, []netip.Addr) {
	b.Helper()
	pr := netlab.NewPair(b, netlab.PairOptions{Links: []netlab.PairLink{{Name: "l0"}, {Name: "l1"}}})
	lab, node, peer := pr.Lab, pr.Node, pr.Peer
	i0, i1 := pr.Links[0].Index, pr.Links[1].Index
	c, err := node.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	add := func(r Route) bool {
		_, err := c.Execute(encodeRoute(&r), unix.RTM_NEWROUTE, netlink.Request|netlink.Create|netlink.Excl|netlink.Acknowledge)
		if errors.Is(err, unix.EEXIST) {
			return false
		}
		if err != nil {
			b.Fatalf("add %v: %v", r, err)
		}
		return true
	}
	start := time.Now()
	for fam := range 2 {
		for n := 0; n < 100_000; {
			var p netip.Prefix
			if fam == 1 {
				var a [16]byte
				a[0], a[1] = 0x20, 0x01
				for i := 2; i < 16; i++ {
					a[i] = byte(rng.Uint32())
				}
				p = netip.PrefixFrom(netip.AddrFrom16(a), 16+rng.IntN(33)).Masked()
			} else {
				var a [4]byte
				for i := range a {
					a[i] = byte(rng.Uint32())
				}
				p = netip.PrefixFrom(netip.AddrFrom4(a), 8+rng.IntN(17)).Masked()
			}
			idx := i0
			if rng.IntN(2) == 0 {
				idx = i1
			}
			r := Route{Dst: p, Table: TableMain, Metric: 1024, Protocol: ProtocolStatic, Scope: unix.RT_SCOPE_LINK, Type: TypeUnicast,
				Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}}
			if !add(r) {
				continue
			}
			n++
			if rng.IntN(10) == 0 && n < 100_000 {
				r.Nexthops[0].Interface.Index = i0 + i1 - idx
				if fam == 0 {
					// IPv4 refuses a second route of equal metric
					// without NLM_F_APPEND: give it a worse one.
					r.Metric++
				}
				if add(r) {
					n++
				}
			}
		}
	}
	b.Logf("200,000 routes added in %v", time.Since(start))
	dsts := make([]netip.Addr, 4096)
	for i := range dsts {
		if i%2 == 0 {
			dsts[i] = netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		} else {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			dsts[i] = netip.AddrFrom16(a)
		}
	}
	return lab, node, peer, dsts
}

// BenchmarkViewOnKernelTable measures the View (read lock included) on a
// table the kernel holds: Lookup and Select, and a full dump (what an
// overrun or a link change costs).
func BenchmarkViewOnKernelTable(b *testing.B) {
	_, v, dsts := kernelTable(b)
	h := HealthMap{}
	for _, l := range v.Links() {
		if l.Name == "l1" {
			h[l.Index] = netpulse.HealthIPDown
		}
	}
	for _, set := range benchSets {
		b.Run("Lookup/"+set.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v.Lookup(dsts[i&set.mask])
				i++
			}
		})
		b.Run("Select/"+set.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v.Select(dsts[i&set.mask], h)
				i++
			}
		})
	}
	b.Run("Dump", func(b *testing.B) {
		for b.Loop() {
			if err := v.dump(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
