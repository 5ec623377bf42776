//go:build !linux

// Command ipbench measures ipmon; it needs Linux.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "ipbench: needs Linux (network namespaces, ICMP sockets)")
	os.Exit(1)
}
