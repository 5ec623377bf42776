//go:build linux

package linkmon

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// glinkProbe asks drivers for their link state with the ETHTOOL_GLINK ioctl:
// one small syscall, several times cheaper than an RTM_GETLINK, whose reply
// carries a full link description (about 1.5 KiB). The kernel's
// ethtool_op_get_link, used by most drivers, also processes the device's
// pending linkwatch event. The probe is only a trigger: when its answer
// differs from the table, the watcher asks rtnetlink, which stays the truth.
type glinkProbe struct {
	fd  int
	ifr *ifreqEthtool
	val *ethtoolValue
}

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqEthtool is struct ifreq with ifr_data (40 bytes on 64-bit Linux).
type ifreqEthtool struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

func openGlinkProbe() (*glinkProbe, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	p := &glinkProbe{fd: fd, ifr: new(ifreqEthtool), val: new(ethtoolValue)}
	p.ifr.data = unsafe.Pointer(p.val)
	return p, nil
}

// link returns the driver's link state of the named device. errno is
// EOPNOTSUPP for a driver without get_link, ENODEV for no such device.
func (p *glinkProbe) link(name string) (bool, unix.Errno) {
	if len(name) >= unix.IFNAMSIZ {
		return false, unix.EINVAL
	}
	p.ifr.name = [unix.IFNAMSIZ]byte{}
	copy(p.ifr.name[:], name)
	p.val.cmd, p.val.data = unix.ETHTOOL_GLINK, 0
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(p.ifr)))
	if e != 0 {
		return false, e
	}
	return p.val.data != 0, 0
}

func (p *glinkProbe) close() { unix.Close(p.fd) }
