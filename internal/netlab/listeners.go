//go:build linux

package netlab

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NetlinkListeners returns how many netlink sockets of protocol (such as
// unix.NETLINK_ROUTE) in the namespace are bound to exactly the multicast
// groups mask groups (bit g-1 for group g, as /proc/net/netlink shows the
// first 32). It is how a test sees, from the kernel, that a program running
// in another process has opened its watcher (linkmon binds RTNLGRP_LINK
// alone, route's View many groups at once), instead of sleeping.
func (n *NS) NetlinkListeners(protocol int, groups uint32) (int, error) {
	var b []byte
	err := n.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/netlink")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netlab: netlink sockets of %q: %w", n.name, err)
	}
	count := 0
	for _, l := range strings.Split(string(b), "\n")[1:] {
		// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		proto, err1 := strconv.Atoi(f[1])
		g, err2 := strconv.ParseUint(f[3], 16, 32)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("netlab: /proc/net/netlink line %q", l)
		}
		if proto == protocol && uint32(g) == groups {
			count++
		}
	}
	return count, nil
}
