//go:build linux

package failover

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// checkCapabilities returns an error naming the capabilities the kernel
// actuator needs and the calling thread lacks in its effective set. The
// kernel would refuse the actuator's first request with EPERM anyway;
// checking here makes the refusal immediate and says which capability is
// missing.
func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: the kernel will say
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	var missing []string
	if !has(unix.CAP_NET_ADMIN) {
		missing = append(missing, "CAP_NET_ADMIN (addresses, rules, routes)")
	}
	if !has(unix.CAP_NET_RAW) {
		missing = append(missing, "CAP_NET_RAW (gratuitous ARP, neighbour advertisements, conflict probes)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("failover: the kernel actuator needs %s: %w", strings.Join(missing, " and "), os.ErrPermission)
	}
	return nil
}
