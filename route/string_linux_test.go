//go:build linux

package route

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// ipRouteAll returns `ip -4 route show table all` run in ns, one
// normalized line per route (multipath continuation lines joined).
func ipRouteAll(t *testing.T, ns *netlab.NS) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The lab's namespaces are anonymous: nsenter gets it as fd 3.
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/proc/self/fd/3", "ip", "-4", "route", "show", "table", "all")
	// A duplicate: the *os.File closes what it holds (Close, or its
	// finalizer), and the lab's descriptor must stay open.
	fd, err := unix.FcntlInt(uintptr(ns.FD()), unix.F_DUPFD_CLOEXEC, 0)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "netns")
	defer f.Close()
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Join(strings.Fields(l), " ")
		switch {
		case f == "":
		case l[0] == ' ' || l[0] == '\t':
			lines[len(lines)-1] += " " + f
		default:
			lines = append(lines, f)
		}
	}
	slices.Sort(lines)
	return lines
}

// Route.String prints a real dump as iproute2 does: kernel, local and
// broadcast routes, a gateway with a metric, a source, a protocol with
// and without a name, blackhole/unreachable/prohibit/throw, another
// table, multipath, and the linkdown flag of a link without carrier.
func TestRouteStringMatchesIPRoute(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	pr := netlab.NewPair(t, netlab.PairOptions{Links: []netlab.PairLink{
		{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24")}},
		{Name: "eth2", Peer: "p2", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.11.2/24")}},
	}})
	node, peer := pr.Node, pr.Peer
	eth3, eth2 := pr.Index("eth3"), pr.Index("eth2")
	pfx, ip := netip.MustParsePrefix, netip.MustParseAddr
	nh := func(idx int, gw string) []Nexthop {
		return []Nexthop{{Interface: netpulse.Interface{Index: idx}, Gateway: ip(gw), Weight: 1}}
	}
	for _, r := range []Route{
		{Dst: pfx("0.0.0.0/0"), Table: TableMain, Metric: 100, Protocol: ProtocolDHCP, Type: TypeUnicast,
			Src: ip("198.18.10.3"), Nexthops: nh(eth3, "198.18.10.1")},
		{Dst: pfx("198.19.1.0/24"), Table: TableMain, Protocol: ProtocolBoot, Type: TypeUnicast, Nexthops: nh(eth2, "198.18.11.1")},
		{Dst: pfx("198.19.2.0/24"), Table: TableMain, Metric: 5, Protocol: ProtocolStatic, Type: TypeBlackhole},
		{Dst: pfx("198.19.3.0/24"), Table: TableMain, Protocol: Protocol(netpulse.DefaultRouteProtocol), Type: TypeUnreachable},
		{Dst: pfx("198.19.4.0/24"), Table: TableMain, Protocol: ProtocolBird, Type: TypeProhibit},
		{Dst: pfx("198.19.5.0/24"), Table: 100, Protocol: ProtocolKernel, Type: TypeThrow},
		{Dst: pfx("198.19.6.7/32"), Table: 100, Metric: 3, Protocol: Protocol(netpulse.DefaultRouteProtocol), Type: TypeUnicast, Nexthops: nh(eth3, "198.18.10.1")},
		{Dst: pfx("198.19.8.0/24"), Table: TableMain, Metric: 10, Protocol: ProtocolStatic, Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: netpulse.Interface{Index: eth3}, Gateway: ip("198.18.10.1"), Weight: 1},
				{Interface: netpulse.Interface{Index: eth2}, Gateway: ip("198.18.11.1"), Weight: 3}}},
	} {
		addRoute(t, node, r)
	}
	// eth2 loses carrier: its routes carry linkdown.
	require.NoError(t, peer.SetDown("p2"))
	var want []string
	waitFor(t, 10*time.Second, "linkdown in ip route", func() bool {
		want = ipRouteAll(t, node)
		return strings.Contains(strings.Join(want, "\n"), "linkdown")
	})

	v, err := OpenView(context.Background(), &ViewConfig{NetNS: node.FD(), Tables: []uint32{TableMain, TableLocal, 100}})
	require.NoError(t, err)
	defer v.Close()
	names := map[int]string{}
	for _, l := range v.Links() {
		names[l.Index] = l.Name
	}
	var got []string
	for _, id := range []uint32{TableMain, TableLocal, 100} {
		require.True(t, v.Read(id, func(tb *Table) {
			for _, r := range tb.Routes() {
				if !r.Dst.Addr().Is4() {
					continue // ip -4; IPv6 lines also carry "pref", which Route does not keep
				}
				for i := range r.Nexthops {
					r.Nexthops[i].Interface.Name = names[r.Nexthops[i].Interface.Index]
				}
				got = append(got, r.String())
			}
		}))
	}
	slices.Sort(got)
	require.Equal(t, want, got)
	t.Logf("ip route show table all, as printed by both:\n%s", strings.Join(got, "\n"))
}
