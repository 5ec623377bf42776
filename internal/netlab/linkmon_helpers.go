//go:build linux

package netlab

import (
	"fmt"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// SetAdminByIndex sets the link with the given index administratively up or
// down with a single netlink request (no name lookup), for latency
// measurements that timestamp just before the request.
func (n *NS) SetAdminByIndex(index uint32, up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	return n.exec(func(c *rtnetlink.Conn) error {
		return c.Link.Set(&rtnetlink.LinkMessage{Index: index, Flags: flags, Change: unix.IFF_UP})
	})
}

// AddLinkOfKind creates a link of a driver kind that needs no options (such
// as "ifb") named name in the namespace and sets it up. linkmon's tests use
// kinds without ethtool support.
func (n *NS) AddLinkOfKind(name, kind string) error {
	err := n.exec(func(c *rtnetlink.Conn) error {
		return c.Link.New(&rtnetlink.LinkMessage{
			Attributes: &rtnetlink.LinkAttributes{Name: name, Info: &rtnetlink.LinkInfo{Kind: kind}},
		})
	})
	if err != nil {
		return fmt.Errorf("netlab: %s link %q in %q: %w", kind, name, n.name, err)
	}
	return n.SetUp(name)
}
