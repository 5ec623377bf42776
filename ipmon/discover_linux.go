//go:build linux

package ipmon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// discover implements Discover.
func discover(ctx context.Context, netns int, iface string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var nc *netlink.Config
	if netns != 0 {
		nc = &netlink.Config{NetNS: netns}
	}
	c, err := rtnetlink.Dial(nc)
	if err != nil {
		return nil, fmt.Errorf("ipmon: rtnetlink: %w", err)
	}
	defer c.Close()
	links, err := c.Link.List()
	if err != nil {
		return nil, fmt.Errorf("ipmon: list links: %w", err)
	}
	var index uint32
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == iface {
			index = l.Index
		}
	}
	if index == 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownInterface, iface)
	}
	type cand struct {
		addr netip.Addr
		def  bool
	}
	var cands []cand
	add := func(gw net.IP, def bool) {
		a, ok := netip.AddrFromSlice(gw)
		if !ok {
			return
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			return
		}
		if a.Is6() && a.IsLinkLocalUnicast() {
			a = a.WithZone(iface)
		}
		cands = append(cands, cand{a, def})
	}
	routes, err := c.Route.List()
	if err != nil {
		return nil, fmt.Errorf("ipmon: list routes: %w", err)
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		for _, r := range routes {
			if r.Family != family || r.Type != unix.RTN_UNICAST {
				continue
			}
			def := r.DstLength == 0
			if r.Attributes.OutIface == index && r.Attributes.Gateway != nil {
				add(r.Attributes.Gateway, def)
			}
			for _, nh := range r.Attributes.Multipath {
				if nh.Hop.IfIndex == index && nh.Gateway != nil {
					add(nh.Gateway, def)
				}
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		if a.addr.Is4() != b.addr.Is4() {
			if a.addr.Is4() {
				return -1
			}
			return 1
		}
		if a.def != b.def {
			if a.def {
				return -1
			}
			return 1
		}
		return 0
	})
	var out []netip.Addr
	for _, c := range cands {
		if !slices.Contains(out, c.addr) {
			out = append(out, c.addr)
		}
	}
	return out, nil
}
