package netlab

import (
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
