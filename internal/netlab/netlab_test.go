//go:build linux

package netlab_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	aAddr4 = netip.MustParsePrefix("198.18.0.1/24")
	bAddr4 = netip.MustParsePrefix("198.18.0.2/24")
	aAddr6 = netip.MustParsePrefix("2001:db8::1/64")
	bAddr6 = netip.MustParsePrefix("2001:db8::2/64")
)

// twoHosts builds namespaces a and b joined by veth a0 <-> b0 with IPv4 and
// IPv6 addresses on both ends.
func twoHosts(t *testing.T, opts *netlab.VethOptions) (*netlab.Lab, *netlab.NS, *netlab.NS) {
	t.Helper()
	p := netlab.NewPair(t, netlab.PairOptions{Node: "a", Peer: "b", Links: []netlab.PairLink{{
		Name: "a0", Peer: "b0", Addrs: []netip.Prefix{aAddr4, aAddr6}, PeerAddrs: []netip.Prefix{bAddr4, bAddr6}, Veth: opts,
	}}})
	return p.Lab, p.Node, p.Peer
}

func TestPingAcrossVeth(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, nil)
	for _, dst := range []netip.Addr{bAddr4.Addr(), bAddr6.Addr()} {
		rtt, err := a.Ping("a0", dst, 2*time.Second)
		require.NoError(t, err, "ping %v", dst)
		require.Positive(t, rtt)
	}
	_, err := b.Ping("", aAddr4.Addr(), 2*time.Second)
	require.NoError(t, err)
}

func TestVethIndexes(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	a, err := lab.NewNS("a")
	require.NoError(t, err)
	b, err := lab.NewNS("b")
	require.NoError(t, err)

	require.NoError(t, lab.Veth(a, "fast", b, "fastp", nil))
	require.NoError(t, lab.Veth(a, "nic", b, "nicp", &netlab.VethOptions{NICLike: true}))

	fa, err := a.Link("fast")
	require.NoError(t, err)
	fb, err := b.Link("fastp")
	require.NoError(t, err)
	require.NotEqual(t, fa.Index, fb.Index, "fast-path veth ends must differ")
	// rtnetlink decodes IFLA_LINK (the iflink) into Attributes.Type.
	require.Equal(t, fb.Index, fa.Attributes.Type, "iflink of one end is the other's index")

	na, err := a.Link("nic")
	require.NoError(t, err)
	nb, err := b.Link("nicp")
	require.NoError(t, err)
	require.Equal(t, na.Index, nb.Index)
	require.Equal(t, na.Index, na.Attributes.Type, "NIC-like: ifindex == iflink")

	require.Error(t, lab.Veth(a, "x", a, "y", &netlab.VethOptions{NICLike: true}))
	require.NoError(t, lab.Veth(a, "x", b, "y", &netlab.VethOptions{Index: 4000, PeerIndex: 4001}))
	x, err := a.Index("x")
	require.NoError(t, err)
	require.Equal(t, 4000, x)
}

func TestCarrierLossSeenByOtherEnd(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, &netlab.VethOptions{NICLike: true})
	up, err := a.Carrier("a0")
	require.NoError(t, err)
	require.True(t, up)

	require.NoError(t, b.SetDown("b0"))
	// A per-device RTM_GETLINK sees the loss at once, even on a NIC-like link.
	up, err = a.Carrier("a0")
	require.NoError(t, err)
	require.False(t, up, "carrier must be lost when the peer goes down")
	lm, err := a.Link("a0")
	require.NoError(t, err)
	require.NotZero(t, lm.Flags&unix.IFF_UP, "carrier loss is not admin down")

	require.NoError(t, b.SetUp("b0"))
	require.Eventually(t, func() bool {
		up, err := a.Carrier("a0")
		return err == nil && up
	}, 2*time.Second, 5*time.Millisecond)
}

func TestSilenceKeepsCarrier(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, nil)
	for _, dst := range []netip.Addr{bAddr4.Addr(), bAddr6.Addr()} {
		_, err := a.Ping("a0", dst, 2*time.Second)
		require.NoError(t, err)
	}
	require.NoError(t, b.Silence())
	for _, dst := range []netip.Addr{bAddr4.Addr(), bAddr6.Addr()} {
		_, err := a.Ping("a0", dst, 200*time.Millisecond)
		require.ErrorIs(t, err, netlab.ErrNoReply, "silenced host answered %v", dst)
	}
	up, err := a.Carrier("a0")
	require.NoError(t, err)
	require.True(t, up, "silence must not touch the link")

	require.NoError(t, b.Unsilence())
	for _, dst := range []netip.Addr{bAddr4.Addr(), bAddr6.Addr()} {
		_, err := a.Ping("a0", dst, 2*time.Second)
		require.NoError(t, err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	node, err := lab.NewNS("node")
	require.NoError(t, err)
	sw, err := lab.NewNS("switch")
	require.NoError(t, err)
	srv, err := lab.NewNS("server")
	require.NoError(t, err)
	require.NoError(t, sw.Bridge("br0"))
	require.NoError(t, lab.Veth(node, "eth2", sw, "p2", nil))
	require.NoError(t, lab.Veth(srv, "eth0", sw, "p0", nil))
	require.NoError(t, sw.SetMaster("p2", "br0"))
	require.NoError(t, sw.SetMaster("p0", "br0"))
	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("198.18.1.2/24")))
	require.NoError(t, srv.AddAddr("eth0", netip.MustParsePrefix("198.18.1.1/24")))
	srvAddr := netip.MustParseAddr("198.18.1.1")
	_, err = node.Ping("eth2", srvAddr, 2*time.Second)
	require.NoError(t, err, "through the bridge")

	// Detach the port: carrier stays, path dies.
	require.NoError(t, sw.SetMaster("p2", ""))
	_, err = node.Ping("eth2", srvAddr, 200*time.Millisecond)
	require.ErrorIs(t, err, netlab.ErrNoReply)
	up, err := node.Carrier("eth2")
	require.NoError(t, err)
	require.True(t, up)
	require.NoError(t, sw.SetMaster("p2", "br0"))
	_, err = node.Ping("eth2", srvAddr, 2*time.Second)
	require.NoError(t, err)

	// A burst of flaps ends with carrier.
	require.NoError(t, sw.Flap("p2", 5, 0))
	require.Eventually(t, func() bool { up, _ := node.Carrier("eth2"); return up }, 2*time.Second, 5*time.Millisecond)

	// Admin down is not carrier loss as far as the flags go.
	require.NoError(t, node.SetDown("eth2"))
	lm, err := node.Link("eth2")
	require.NoError(t, err)
	require.Zero(t, lm.Flags&unix.IFF_UP)
	require.NoError(t, node.SetUp("eth2"))

	// Rename keeps the index.
	before, err := node.Index("eth2")
	require.NoError(t, err)
	require.NoError(t, node.Rename("eth2", "eth9"))
	after, err := node.Index("eth9")
	require.NoError(t, err)
	require.Equal(t, before, after)
	_, err = node.Link("eth2")
	require.Error(t, err)

	// Delete and recreate with the same name: a new index.
	require.NoError(t, node.DeleteLink("eth9"))
	_, err = sw.Link("p2")
	require.Error(t, err, "deleting one veth end deletes the peer")
	require.NoError(t, lab.Veth(node, "eth9", sw, "p2", nil))
	again, err := node.Index("eth9")
	require.NoError(t, err)
	require.NotEqual(t, before, again)

	// Routes and sysctls.
	require.NoError(t, node.AddAddr("eth9", netip.MustParsePrefix("198.18.1.2/24")))
	require.NoError(t, node.AddAddr("eth9", netip.MustParsePrefix("2001:db8:1::2/64")))
	addrs, err := node.Addrs("eth9")
	require.NoError(t, err)
	require.Contains(t, addrs, netip.MustParsePrefix("198.18.1.2/24"))
	require.Contains(t, addrs, netip.MustParsePrefix("2001:db8:1::2/64"))
	require.NoError(t, node.DelAddr("eth9", netip.MustParsePrefix("2001:db8:1::2/64")))
	addrs, err = node.Addrs("eth9")
	require.NoError(t, err)
	require.NotContains(t, addrs, netip.MustParsePrefix("2001:db8:1::2/64"))
	r := netlab.Route{Dst: netip.MustParsePrefix("198.18.200.0/24"), Gateway: srvAddr, Dev: "eth9", Metric: 50}
	require.NoError(t, node.AddRoute(r))
	require.NoError(t, node.DelRoute(r))
	require.NoError(t, node.SetStrictARP(true))
	v, err := node.ReadSysctl("net.ipv4.conf.all.arp_ignore")
	require.NoError(t, err)
	require.Equal(t, "1", v)
}

func TestDoRestoresThreadAndPropagatesPanic(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	n, err := lab.NewNS("x")
	require.NoError(t, err)
	self, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	var inside string
	require.NoError(t, n.Do(func() error {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	require.NotEqual(t, self, inside)
	require.PanicsWithValue(t, "boom", func() { _ = n.Do(func() error { panic("boom") }) })
	require.ErrorContains(t, n.Do(func() error { runtime.Goexit(); return nil }), "Goexit")
	wantErr := errors.New("x")
	require.ErrorIs(t, n.Do(func() error { return wantErr }), wantErr)
}

// hostState is what a lab must never change in the host namespace.
func hostState(t *testing.T) (links []string, named []string) {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	require.NoError(t, err)
	for _, e := range ents {
		links = append(links, e.Name())
	}
	if ents, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range ents {
			named = append(named, e.Name())
		}
	}
	sort.Strings(links)
	return links, named
}

// Not parallel: it compares the host namespace before and after.
func TestCleanupLeavesNothing(t *testing.T) {
	netlab.Require(t)
	links0, _ := hostState(t)

	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { lab.Close() }) // also when an assertion stops the test early
	a, err := lab.NewNS("a")
	require.NoError(t, err)
	b, err := lab.NewNS("b")
	require.NoError(t, err)
	require.NoError(t, lab.Veth(a, "a0", b, "b0", nil))
	require.NoError(t, b.Bridge("br0"))
	require.FileExists(t, a.Path())
	require.True(t, strings.HasPrefix(filepath.Base(a.Path()), lab.Name()))
	nsID := func(n *netlab.NS) string {
		id, err := os.Readlink("/proc/self/fd/" + itoa(n.FD()))
		require.NoError(t, err)
		return id
	}
	ids := []string{nsID(a), nsID(b)}

	require.NoError(t, lab.Close())
	require.NoError(t, lab.Close(), "Close is idempotent")
	_, err = lab.NewNS("c")
	require.Error(t, err, "a closed lab creates nothing")

	// Other packages' tests may name namespaces of their own meanwhile:
	// only this lab's names must be gone.
	links1, named1 := hostState(t)
	require.Equal(t, links0, links1, "host links changed")
	for _, n := range named1 {
		require.False(t, strings.HasPrefix(n, lab.Name()), "namespace %s left behind", n)
	}
	require.NoFileExists(t, a.Path())
	// Nothing in this process still holds the namespaces.
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		require.False(t, slices.Contains(ids, target), "namespace %s still held by fd %s", target, fd.Name())
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
