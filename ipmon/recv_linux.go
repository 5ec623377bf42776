//go:build linux

package ipmon

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch reads up to rxBatch messages waiting on fd with one recvmmsg
// (MSG_DONTWAIT) into slots, each with its source address and control
// messages, and returns how many it read; ok is false when it read none
// (EAGAIN: nothing waiting; any other error: tried again at the next
// turn). It does not allocate. Used by the echo and the BFD receive
// sockets.
func recvBatch(fd int, mm *[rxBatch]mmsghdr, slots *[rxBatch]rxSlot) (n int, ok bool) {
	for i := range mm {
		sl := &slots[i]
		sl.iov.Base = &sl.buf[0]
		sl.iov.SetLen(len(sl.buf))
		mm[i].hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&sl.name)),
			Namelen: uint32(unsafe.Sizeof(sl.name)),
			Iov:     &sl.iov,
			Iovlen:  1,
			Control: &sl.oob[0],
		}
		mm[i].hdr.SetControllen(len(sl.oob))
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&mm[0])), rxBatch, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, false
	}
	return int(r), true
}
