//go:build linux

package netlab_test

import (
	"testing"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNetlinkListeners: a socket bound to RTNLGRP_LINK alone in a namespace
// is counted there, not in another namespace nor under another mask, and
// no longer once closed.
func TestNetlinkListeners(t *testing.T) {
	t.Parallel()
	_, a, b := twoHosts(t, nil)
	const link = 1 << (unix.RTNLGRP_LINK - 1)
	count := func(n *netlab.NS, groups uint32) int {
		t.Helper()
		c, err := n.NetlinkListeners(unix.NETLINK_ROUTE, groups)
		require.NoError(t, err)
		return c
	}
	require.Zero(t, count(a, link))
	fd := -1
	require.NoError(t, a.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: link}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	}))
	require.Equal(t, 1, count(a, link))
	require.Zero(t, count(b, link), "another namespace")
	require.Zero(t, count(a, link|1<<(unix.RTNLGRP_IPV4_ROUTE-1)), "another mask")
	require.NoError(t, unix.Close(fd))
	require.Zero(t, count(a, link))
}
