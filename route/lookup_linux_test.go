//go:build linux

package route

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// randomLab builds a node with four links to a peer: l0 and l1 up, l2
// without carrier (its routes are flagged linkdown and still used), l3
// without carrier and with ignore_routes_with_linkdown=1 (its routes are
// dead). Each link has a connected subnet for gateways.
func randomLab(t *testing.T) (*netlab.NS, []string) {
	links := []string{"l0", "l1", "l2", "l3"}
	var pls []netlab.PairLink
	for i, l := range links {
		pls = append(pls, netlab.PairLink{Name: l, Addrs: []netip.Prefix{
			netip.MustParsePrefix(fmt.Sprintf("198.19.%d.1/24", i)), netip.MustParsePrefix(fmt.Sprintf("2001:db8:ff:%d::1/64", i))}})
	}
	pr := netlab.NewPair(t, netlab.PairOptions{Links: pls})
	node, peer := pr.Node, pr.Peer
	for _, f := range []string{"ipv4", "ipv6"} {
		require.NoError(t, node.Sysctl("net/"+f+"/conf/l3/ignore_routes_with_linkdown", "1"))
	}
	require.NoError(t, peer.SetDown("pl2"))
	require.NoError(t, peer.SetDown("pl3"))
	for _, l := range []string{"l2", "l3"} {
		waitFor(t, 10*time.Second, l+" carrier loss", func() bool {
			up, err := node.Carrier(l)
			require.NoError(t, err)
			return !up
		})
	}
	return node, links
}

func randomPrefix(rng *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0})
		for i := 6; i < 16; i++ {
			a[i] = byte(rng.IntN(4)) // few distinct values: overlapping prefixes
		}
		return netip.PrefixFrom(netip.AddrFrom16(a), 48+rng.IntN(81)).Masked()
	}
	a := [4]byte{198, 18, byte(rng.IntN(256)), byte(rng.IntN(256))}
	return netip.PrefixFrom(netip.AddrFrom4(a), 16+rng.IntN(17)).Masked()
}

func randomAddr(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		return randomPrefix(rng, true).Addr().Next() // inside the random space
	}
	return netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(256)), byte(rng.IntN(256))})
}

func testLookupAgainstKernel(t *testing.T, v6 bool) {
	node, links := randomLab(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	added := 0
	for tries := 0; added < 1000 && tries < 5000; tries++ {
		i := rng.IntN(len(links))
		r := netlab.Route{Dst: randomPrefix(rng, v6), Dev: links[i], Metric: uint32(rng.IntN(5) * 10)}
		if rng.IntN(2) == 0 {
			if v6 {
				r.Gateway = netip.MustParseAddr(fmt.Sprintf("2001:db8:ff:%d::%x", i, 2+rng.IntN(200)))
			} else {
				r.Gateway = netip.MustParseAddr(fmt.Sprintf("198.19.%d.%d", i, 2+rng.IntN(200)))
			}
		}
		if err := node.AddRoute(r); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			require.NoError(t, err)
		}
		added++
	}
	require.Equal(t, 1000, added)
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer v.Close()
	// The view counts the random routes plus the connected ones.
	waitFor(t, 10*time.Second, "view holds every route", func() bool { return v.Snapshot().Routes >= 1000 })

	agree, covered, linkdownUsed, backtracked := 0, 0, 0, 0
	for range 1000 {
		dst := randomAddr(rng, v6)
		ans, kerr := node.RouteGet(dst)
		r, ok := v.Lookup(dst)
		if kerr != nil {
			require.False(t, ok, "kernel: %v; view: %v", kerr, r)
			agree++
			continue
		}
		require.True(t, ok, "kernel uses if%d via %v for %v; view has no route", ans.OutIface, ans.Gateway, dst)
		covered++
		if r.Nexthops[0].Flags.LinkDown() {
			linkdownUsed++
		}
		v.Read(0, func(tb *Table) {
			for b := dst.BitLen(); b > r.Dst.Bits(); b-- {
				if len(tb.RoutesTo(netip.PrefixFrom(dst, b).Masked())) > 0 {
					backtracked++
					return
				}
			}
		})
		require.Equal(t, ans.OutIface, r.Interface().Index, "dst %v: view chose %v", dst, r)
		require.Equal(t, ans.Gateway, r.Nexthops[0].Gateway, "dst %v: view chose %v", dst, r)
		agree++
	}
	require.Equal(t, 1000, agree)
	require.Greater(t, covered, 100, "the random table covers too few destinations to test much")
	require.Positive(t, linkdownUsed, "no linkdown route was chosen: the case is not tested")
	require.Positive(t, backtracked, "no lookup fell back past dead routes: the case is not tested")
	t.Logf("%d of 1000 destinations covered by a route; %d through a linkdown route; %d fell back past dead routes",
		covered, linkdownUsed, backtracked)
}

func TestLookupAgreesWithKernel(t *testing.T) {
	t.Parallel()
	testLookupAgainstKernel(t, false)
}

func TestLookupAgreesWithKernelIPv6(t *testing.T) {
	t.Parallel()
	testLookupAgainstKernel(t, true)
}
