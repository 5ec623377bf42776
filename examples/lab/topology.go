//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/netpulse/netpulse/internal/netlab"
	"golang.org/x/sys/unix"
)

// The lab's addresses: all from 198.18.0.0/15 and 2001:db8::/32, inside the
// lab's own namespaces.
var (
	subnet4    = netip.MustParsePrefix("198.18.10.0/24")
	eth2Addr   = netip.MustParsePrefix("198.18.10.2/24")
	eth3Addr   = netip.MustParsePrefix("198.18.10.3/24")
	routerAddr = netip.MustParsePrefix("198.18.10.1/24")
	serverAddr = netip.MustParsePrefix("198.18.10.100/24")
	peerAddr   = netip.MustParsePrefix("198.18.10.200/24")
	service4   = netip.MustParsePrefix("198.18.10.50/24")
)

// topology is the lab network:
//
//	node: eth3 (primary, activated first) ─┐
//	node: eth2 (standby)                  ─┤ switch (bridge br0) ─┬─ server  198.18.10.100
//	                                       │                      ├─ router  198.18.10.1 (polling target)
//	                                       │                      └─ peer    198.18.10.200
type topology struct {
	lab                          *netlab.Lab
	node, sw, server, router, pr *netlab.NS
}

// labPrefix names the lab's namespaces so that `ip netns` shows them while
// the demonstration runs; the pid keeps two runs apart.
func labPrefix() string { return "nplab-" + strconv.Itoa(os.Getpid()) }

// removeStale deletes namespace names left by an earlier run that was
// killed before it could clean up (its pid no longer exists).
func removeStale() {
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "nplab-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
			continue
		}
		p := filepath.Join("/var/run/netns", e.Name())
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = os.Remove(p)
	}
}

func buildTopology() (_ *topology, err error) {
	removeStale()
	lab, err := netlab.Open(netlab.Config{Name: labPrefix(), Named: true})
	if err != nil {
		return nil, err
	}
	t := &topology{lab: lab}
	defer func() {
		if err != nil {
			lab.Close()
		}
	}()
	for _, x := range []struct {
		p    **netlab.NS
		name string
	}{{&t.node, "node"}, {&t.sw, "switch"}, {&t.server, "server"}, {&t.router, "router"}, {&t.pr, "peer"}} {
		if *x.p, err = lab.NewNS(x.name); err != nil {
			return nil, err
		}
	}
	if err := t.sw.Bridge("br0"); err != nil {
		return nil, err
	}
	// eth3 behaves like a physical NIC (equal ifindex at both ends): the
	// kernel batches its carrier-loss notifications, linkmon's carrier
	// check does not wait for them.
	links := []struct {
		ns       *netlab.NS
		dev, sw  string
		nicLike  bool
		addr     netip.Prefix
		activate bool
	}{
		{t.node, "eth3", "p3", true, eth3Addr, true},
		{t.node, "eth2", "p2", true, eth2Addr, true},
		{t.server, "eth0", "ps", false, serverAddr, true},
		{t.router, "eth0", "pr", false, routerAddr, true},
		{t.pr, "eth0", "pp", false, peerAddr, true},
	}
	for _, l := range links {
		if err := lab.Veth(l.ns, l.dev, t.sw, l.sw, &netlab.VethOptions{NICLike: l.nicLike}); err != nil {
			return nil, err
		}
		if err := t.sw.SetMaster(l.sw, "br0"); err != nil {
			return nil, err
		}
	}
	// The node's ARP settings that make two interfaces on one subnet
	// distinguishable (see KERNEL-FACTS: ARP flux).
	if err := t.node.SetStrictARP(true); err != nil {
		return nil, err
	}
	// eth3 first: its subnet route is the one the kernel uses.
	for _, l := range links {
		if err := l.ns.AddAddr(l.dev, l.addr); err != nil {
			return nil, fmt.Errorf("address %v on %s: %w", l.addr, l.dev, err)
		}
	}
	return t, nil
}

func (t *topology) Close() error { return t.lab.Close() }
