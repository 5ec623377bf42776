package route

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/netpulse/netpulse"
)

// bigTable builds 100,000 IPv4 and 100,000 IPv6 routes over 16 interfaces
// with distinct random prefixes (IPv4 /8 to /24, IPv6 /16 to /48), one
// prefix in ten with a second equal route through another interface, 20%
// of the first routes flagged linkdown and half of those dead, plus
// default routes, and returns it with random
// destinations.
func bigTable(b *testing.B) (*Table, []netip.Addr) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	t := NewTable()
	for i := 1; i <= 16; i++ {
		t.SetLink(Link{Interface: netpulse.Interface{Index: i, Name: "eth" + string(rune('a'+i))}, Up: true, Carrier: true})
	}
	for t.Len() < 200_000 {
		v6 := t.trie.Size6() < 100_000 && (t.trie.Size4() >= 100_000 || rng.IntN(2) == 0)
		var p netip.Prefix
		if v6 {
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
		if _, dup := t.trie.Get(p); dup {
			continue // one prefix, one route (a second one is added below)
		}
		var flags NexthopFlags
		switch rng.IntN(10) {
		case 0:
			flags = FlagLinkDown
		case 1:
			flags = FlagLinkDown | FlagDead
		}
		idx := 1 + rng.IntN(16)
		nh := Nexthop{Interface: netpulse.Interface{Index: idx}, Flags: flags, Weight: 1}
		t.Add(Route{Dst: p, Table: TableMain, Metric: uint32(rng.IntN(4)), Type: TypeUnicast, Nexthops: []Nexthop{nh}})
		if rng.IntN(10) == 0 {
			// One prefix in ten has a second, equal route through
			// another interface: the two-interfaces-on-one-subnet case.
			nh.Interface.Index = 1 + (idx % 16)
			nh.Flags = 0
			r := Route{Dst: p, Table: TableMain, Metric: t.RoutesTo(p)[0].Metric, Type: TypeUnicast, Nexthops: []Nexthop{nh}}
			t.Add(r)
		}
	}
	// Default routes so that every destination has an answer.
	for _, d := range []string{"0.0.0.0/0", "::/0"} {
		t.Add(Route{Dst: netip.MustParsePrefix(d), Table: TableMain, Type: TypeUnicast, Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: 1}, Weight: 1}}})
	}
	dsts := make([]netip.Addr, 4096)
	for i := range dsts {
		if i%2 == 0 {
			var a [4]byte
			for j := range a {
				a[j] = byte(rng.Uint32())
			}
			dsts[i] = netip.AddrFrom4(a)
		} else {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				a[j] = byte(rng.Uint32())
			}
			dsts[i] = netip.AddrFrom16(a)
		}
	}
	runtime.GC()
	return t, dsts
}

// Destination sets: "random" spreads 4,096 destinations over the whole
// table (nearly every lookup misses the CPU caches); "hot" repeats 64 of
// them, as a cluster node that talks to a few peers does.
var benchSets = []struct {
	name string
	mask int
}{{"random", 4095}, {"hot", 63}}

// BenchmarkBartLookupBaseline is the prefix table's own longest-prefix
// match, the floor under Lookup and Select, measured the same way.
func BenchmarkBartLookupBaseline(b *testing.B) {
	t, dsts := bigTable(b)
	for _, set := range benchSets {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t.trie.Lookup(dsts[i&set.mask])
				i++
			}
		})
	}
}

// BenchmarkLookup: 100k IPv4 + 100k IPv6 routes, mixed destinations.
func BenchmarkLookup(b *testing.B) {
	t, dsts := bigTable(b)
	for _, set := range benchSets {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t.Lookup(dsts[i&set.mask])
				i++
			}
		})
	}
}

// BenchmarkSelect: same table, 4 of 16 interfaces unhealthy.
func BenchmarkSelect(b *testing.B) {
	t, dsts := bigTable(b)
	t.SetPreference([]string{"ethc", "ethb"})
	h := HealthMap{2: netpulse.HealthIPDown, 5: netpulse.HealthLinkDown, 9: netpulse.HealthIPDown, 13: netpulse.HealthIPDown}
	for _, set := range benchSets {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				t.Select(dsts[i&set.mask], h)
				i++
			}
		})
	}
}
