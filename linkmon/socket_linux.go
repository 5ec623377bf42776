//go:build linux

package linkmon

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The two rtnetlink sockets: notifications and requests.

// notifSock is the multicast socket subscribed to RTNLGRP_LINK. Reads go
// through the runtime poller so that Close interrupts them.
type notifSock struct {
	f      *os.File
	rc     syscall.RawConn
	buf    []byte
	n      int
	errno  syscall.Errno
	from   uint32
	sa     unix.RawSockaddrNetlink
	salen  uint32
	readFn func(fd uintptr) bool
}

func openNotif(rcvbuf int) (*notifSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max when privileged.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			unix.Close(fd)
			return nil, &Error{Op: "open", Err: err}
		}
	}
	// Subscribe before the first dump: a change in between is then queued.
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.RTNLGRP_LINK - 1)}); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "open", Err: err}
	}
	f := os.NewFile(uintptr(fd), "rtnetlink-link")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, &Error{Op: "open", Err: err}
	}
	s := &notifSock{f: f, rc: rc, buf: make([]byte, 32<<10)}
	s.readFn = s.readOnce
	return s, nil
}

func (s *notifSock) readOnce(fd uintptr) bool {
	s.salen = unix.SizeofSockaddrNetlink
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)),
		unix.MSG_TRUNC, uintptr(unsafe.Pointer(&s.sa)), uintptr(unsafe.Pointer(&s.salen)))
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	s.n, s.errno, s.from = int(n), e, s.sa.Pid
	return true
}

// recv reads one datagram into s.buf. It returns its full length, which
// exceeds len(s.buf) when it was truncated.
func (s *notifSock) recv() (int, error) {
	s.n, s.errno = 0, 0
	if err := s.rc.Read(s.readFn); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, s.errno
	}
	return s.n, nil
}

// drain discards every queued notification, until the queue is empty.
func (s *notifSock) drain() {
	s.rc.Control(func(fd uintptr) {
		for range 1 << 20 {
			n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)),
				unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EINTR || e == unix.ENOBUFS || (e == 0 && n > 0) {
				continue
			}
			return
		}
	})
}

func (s *notifSock) grow(n int) { s.buf = make([]byte, n+4096) }

func (s *notifSock) close() { s.f.Close() }

// reqSock is the socket for requests. The kernel answers a request during
// the send and produces each part of a dump during the read before it, so
// replies are always queued by the time they are read: a blocking socket
// with a receive timeout (against a kernel that never answers) is enough.
type reqSock struct {
	probe *glinkProbe // nil if it cannot be opened
	fd    int
	seq   uint32
	out   []byte
	buf   []byte
	sa    unix.RawSockaddrNetlink
	salen uint32
	m     linkMsg
}

func openReq() (*reqSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "open", Err: err}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "open", Err: err}
	}
	r := &reqSock{fd: fd, seq: uint32(time.Now().UnixNano()), buf: make([]byte, 64<<10), out: make([]byte, 0, 64)}
	r.probe, _ = openGlinkProbe() // without it every check is an RTM_GETLINK
	return r, nil
}

func (r *reqSock) close() {
	unix.Close(r.fd)
	if r.probe != nil {
		r.probe.close()
	}
}

func (r *reqSock) recv() (int, error) {
	for {
		r.salen = unix.SizeofSockaddrNetlink
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(r.fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
			unix.MSG_TRUNC, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		if r.sa.Pid != 0 {
			continue // not the kernel
		}
		if int(n) > len(r.buf) {
			r.buf = make([]byte, int(n)+4096)
			return 0, errTruncated
		}
		return int(n), nil
	}
}

var errTruncated = errors.New("netlink reply truncated")

func (r *reqSock) send() error {
	for {
		_, err := unix.Write(r.fd, r.out)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

// getLink queries one link. The returned message points into r's buffers
// (valid until the next call). errno is the kernel's refusal (e.g. ENODEV).
func (r *reqSock) getLink(index int) (*linkMsg, syscall.Errno, error) {
	r.seq++
	seq := r.seq
	r.out = appendGetLink(r.out[:0], seq, index, false)
	if err := r.send(); err != nil {
		return nil, 0, err
	}
	for {
		n, err := r.recv()
		if err != nil {
			return nil, 0, err
		}
		m, errno, done, err := getLinkReply(r.buf[:n], seq, &r.m)
		if done || err != nil {
			return m, errno, err
		}
	}
}

// dump lists every link and calls fn for each; it reports whether the kernel
// flagged the dump as interrupted (inconsistent).
func (r *reqSock) dump(fn func(*linkMsg)) (intr bool, err error) {
	r.seq++
	seq := r.seq
	r.out = appendGetLink(r.out[:0], seq, 0, true)
	if err := r.send(); err != nil {
		return false, err
	}
	for {
		n, err := r.recv()
		if err != nil {
			return false, err
		}
		done, err := dumpReply(r.buf[:n], seq, &intr, &r.m, fn)
		if done || err != nil {
			return intr, err
		}
	}
}
