//go:build tools

// Package tools pins the modules netpulse packages are built on, so that
// they can be developed in parallel without editing go.mod.
package tools

import (
	_ "github.com/gaissmai/bart"
	_ "github.com/jsimonetti/rtnetlink/v2"
	_ "github.com/mdlayher/ethtool"
	_ "github.com/mdlayher/netlink"
	_ "github.com/mdlayher/packet"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/icmp"
	_ "golang.org/x/sys/unix"
)
