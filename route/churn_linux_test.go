//go:build linux

package route

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The view applies route notifications in place (append, prepend,
// replace, delete); after random churn on a small prefix space, where
// routes of equal prefix and metric pile up, it must equal a fresh dump,
// kernel order included.
func TestViewFollowsRandomChurn(t *testing.T) {
	t.Parallel()
	var links []netlab.PairLink
	for i, l := range []string{"l0", "l1", "l2"} {
		links = append(links, netlab.PairLink{Name: l, Addrs: []netip.Prefix{
			netip.MustParsePrefix(fmt.Sprintf("198.19.%d.1/24", i)), netip.MustParsePrefix(fmt.Sprintf("2001:db8:ff:%d::1/64", i))}})
	}
	pr := netlab.NewPair(t, netlab.PairOptions{Links: links})
	node := pr.Node
	var idx []int
	for _, l := range pr.Links {
		idx = append(idx, l.Index)
	}
	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD()})
	require.NoError(t, err)
	defer v.Close()
	c, err := node.Dial()
	require.NoError(t, err)
	defer c.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	ops := map[string]int{}
	var trace []string
	for i := range 2000 {
		v6 := rng.IntN(2) == 0
		var dst netip.Prefix
		if v6 {
			dst = netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/%d", rng.IntN(3), 48+16*rng.IntN(2))).Masked()
		} else {
			dst = netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/%d", rng.IntN(3), 16+8*rng.IntN(2))).Masked()
		}
		r := Route{Dst: dst, Table: TableMain, Metric: uint32(rng.IntN(2)), Protocol: ProtocolStatic, Scope: unix.RT_SCOPE_LINK,
			Type: TypeUnicast, Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: idx[rng.IntN(len(idx))]}, Weight: 1}}}
		if v6 && r.Metric == 0 {
			r.Metric = 1024 // the kernel's default for IPv6
		}
		rm := encodeRoute(&r)
		var op string
		var flags netlink.HeaderFlags = netlink.Request | netlink.Acknowledge
		typ := unix.RTM_NEWROUTE
		switch rng.IntN(5) {
		case 0:
			op, flags = "add", flags|netlink.Create|netlink.Excl
		case 1:
			op, flags = "append", flags|netlink.Create|netlink.Append
		case 2:
			op, flags = "prepend", flags|netlink.Create
		case 3:
			if v6 {
				// Left out for IPv6: after a replace among routes of
				// equal prefix and metric the view re-dumps, and an IPv6
				// dump taken while routes change may order them
				// differently from the kernel.
				continue
			}
			op, flags = "replace", flags|netlink.Create|netlink.Replace
		default:
			op, typ = "delete", unix.RTM_DELROUTE
			rm.Scope = unix.RT_SCOPE_NOWHERE
			rm.Protocol = 0
		}
		_, err := c.Execute(rm, uint16(typ), flags)
		if err == nil {
			ops[op]++
		}
		trace = append(trace, fmt.Sprintf("%s %v: %v", op, r, err))
		if i%250 == 249 {
			want := freshRoutes(t, node)
			deadline := time.Now().Add(10 * time.Second)
			for !routesEqual(want, v.Routes()) {
				if time.Now().After(deadline) {
					got := v.Routes()
					t.Logf("ops so far %v", ops)
					for _, l := range trace {
						t.Log(l)
					}
					for j := range max(len(got), len(want)) {
						var g, w string
						if j < len(got) {
							g = got[j].String()
						}
						if j < len(want) {
							w = want[j].String()
						}
						t.Logf("%-3d view %-60s kernel %s", j, g, w)
					}
					t.Fatalf("view differs from the kernel after %d operations", i+1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	t.Logf("successful operations: %v", ops)
	require.Positive(t, ops["append"])
	require.Positive(t, ops["prepend"])
	require.Positive(t, ops["delete"])
	require.Positive(t, ops["replace"])
}
