//go:build linux

package netlab

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// RouteAnswer is the kernel's answer to a route lookup (RTM_GETROUTE).
type RouteAnswer struct {
	OutIface int        // output interface index
	Gateway  netip.Addr // next router, invalid when on link
	Src      netip.Addr // preferred source
	Type     uint8      // RTN_* type of the route used
	Table    uint32     // table of the route used
}

// RouteGet asks the namespace's kernel which route it would use to send to
// dst (what `ip route get` does). An unreachable destination returns the
// kernel's error (e.g. ENETUNREACH).
func (n *NS) RouteGet(dst netip.Addr) (RouteAnswer, error) {
	dst = dst.Unmap()
	rm := &rtnetlink.RouteMessage{
		Family:     unix.AF_INET6,
		DstLength:  uint8(dst.BitLen()),
		Attributes: rtnetlink.RouteAttributes{Dst: net.IP(dst.AsSlice())},
	}
	if dst.Is4() {
		rm.Family = unix.AF_INET
	}
	var ans RouteAnswer
	err := n.exec(func(c *rtnetlink.Conn) error {
		msgs, err := c.Execute(rm, unix.RTM_GETROUTE, netlink.Request)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			r, ok := m.(*rtnetlink.RouteMessage)
			if !ok {
				continue
			}
			ans.OutIface = int(r.Attributes.OutIface)
			ans.Type = r.Type
			ans.Table = uint32(r.Table)
			if r.Attributes.Table != 0 {
				ans.Table = r.Attributes.Table
			}
			if a, ok := netip.AddrFromSlice(r.Attributes.Gateway); ok {
				ans.Gateway = a.Unmap()
			}
			if a, ok := netip.AddrFromSlice(r.Attributes.Src); ok {
				ans.Src = a.Unmap()
			}
			return nil
		}
		return fmt.Errorf("no route message in the reply")
	})
	if err != nil {
		return ans, fmt.Errorf("netlab: route get %v in %q: %w", dst, n.name, err)
	}
	return ans, nil
}
