//go:build linux

package ipmon

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BFD sockets: per (interface, family) one UDP socket bound to the
// interface and to port 3784 receives the control packets of every session
// on it (IP_MINTTL / IPV6_MINHOPCOUNT 255 make the kernel drop the others:
// GTSM), and one bound to the interface and to a port in 49152-65535 sends
// them with TTL / hop limit 255. The scheduler goroutine sleeps on the
// receive sockets with the echo sockets (epoll) and drains them.

// bfdSock is the socket pair of one (interface, family).
type bfdSock struct {
	key    txKey
	iface  string
	rx, tx int
	refs   int
	mm     [rxBatch]mmsghdr
	slots  [rxBatch]rxSlot
	pks    [rxBatch]bfdRx
	txIOV  unix.Iovec
	txMsg  unix.Msghdr
}

// bfdSockets is the transport's BFD part, guarded by linuxTransport.lk.
type bfdSockets struct {
	socks    map[txKey]*bfdSock
	list     []*bfdSock
	scratch  []*bfdSock
	draining bool
	pending  []*bfdSock // released while draining: closed after it
	// open is len(list), also read without lk: the scheduler takes lk
	// in drainBFD only when there are BFD sockets, so that a Poller
	// without BFD targets never waits there for an Add or a neighbour
	// flush that holds lk.
	open atomic.Int32
}

// attachBFD gives tg the socket pair of its interface and family, opening
// it if needed. Called with lk held.
func (t *linuxTransport) attachBFD(tg *target, iface string, v6 bool) error {
	k := txKey{tg.ifindex, v6}
	b := &t.bfd
	if b.socks == nil {
		b.socks = make(map[txKey]*bfdSock)
	}
	s := b.socks[k]
	if s == nil {
		var err error
		if s, err = t.openBFD(k, iface); err != nil {
			return err
		}
		b.socks[k] = s
		b.list = append(b.list, s)
		b.open.Store(int32(len(b.list)))
	}
	s.refs++
	tg.tx.bfd = s
	tg.tx.fd = s.tx
	return nil
}

// prepareBFDDest sets the destination port of a BFD target (prepareDest
// filled the address and the IP_PKTINFO / IPV6_PKTINFO message).
func prepareBFDDest(tx *txState, v6 bool) {
	port := (*[2]byte)(unsafe.Pointer(&tx.sa4.Port))
	if v6 {
		port = (*[2]byte)(unsafe.Pointer(&tx.sa6.Port))
	}
	binary.BigEndian.PutUint16(port[:], bfdControlPort)
}

// detachBFD releases tg's socket pair. Called with lk held.
func (t *linuxTransport) detachBFD(s *bfdSock) {
	s.refs--
	if s.refs > 0 || t.closed {
		return
	}
	b := &t.bfd
	delete(b.socks, s.key)
	for i, x := range b.list {
		if x == s {
			b.list = append(b.list[:i], b.list[i+1:]...)
			break
		}
	}
	b.open.Store(int32(len(b.list)))
	if b.draining {
		b.pending = append(b.pending, s)
		return
	}
	s.close()
}

func (s *bfdSock) close() {
	unix.Close(s.rx)
	unix.Close(s.tx)
}

// openBFD opens the socket pair of (k.ifindex, k.v6) and adds the receive
// socket to the scheduler's epoll set.
func (t *linuxTransport) openBFD(k txKey, iface string) (*bfdSock, error) {
	s := &bfdSock{key: k, iface: iface, rx: -1, tx: -1}
	fail := func(op string, err error) (*bfdSock, error) {
		if s.rx >= 0 {
			unix.Close(s.rx)
		}
		if s.tx >= 0 {
			unix.Close(s.tx)
		}
		return nil, os.NewSyscallError(op, err)
	}
	family := unix.AF_INET
	if k.v6 {
		family = unix.AF_INET6
	}
	err := inNetNS(t.netns, func() error {
		var err error
		if s.rx, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP); err != nil {
			return err
		}
		s.tx, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		return err
	})
	if err != nil {
		return fail("socket", err)
	}
	type opt struct {
		fd, level, name, v int
		what               string
	}
	opts := []opt{
		{s.rx, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"},
		{s.rx, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, k.ifindex, "SO_BINDTOIFINDEX"},
		{s.tx, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, k.ifindex, "SO_BINDTOIFINDEX"},
	}
	if k.v6 {
		opts = append(opts,
			opt{s.rx, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"},
			opt{s.tx, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"},
			opt{s.rx, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"},
			opt{s.rx, unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, bfdTTL, "IPV6_MINHOPCOUNT"},
			opt{s.tx, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, bfdTTL, "IPV6_UNICAST_HOPS"},
			opt{s.tx, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0xc0, "IPV6_TCLASS"}, // CS6, network control
		)
	} else {
		opts = append(opts,
			opt{s.rx, unix.IPPROTO_IP, unix.IP_RECVTTL, 1, "IP_RECVTTL"},
			opt{s.rx, unix.IPPROTO_IP, unix.IP_MINTTL, bfdTTL, "IP_MINTTL"},
			opt{s.tx, unix.IPPROTO_IP, unix.IP_TTL, bfdTTL, "IP_TTL"},
			opt{s.tx, unix.IPPROTO_IP, unix.IP_TOS, 0xc0, "IP_TOS"},
		)
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(o.fd, o.level, o.name, o.v); err != nil {
			return fail("setsockopt "+o.what, err)
		}
	}
	// Nothing is sent to the source port: drop whatever arrives there.
	drop := []unix.SockFilter{{Code: 0x06, K: 0}}
	if err := unix.SetsockoptSockFprog(s.tx, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}); err != nil {
		return fail("setsockopt SO_ATTACH_FILTER", err)
	}
	if err := unix.SetsockoptInt(s.rx, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20); err != nil {
		_ = unix.SetsockoptInt(s.rx, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	var rxa, txa unix.Sockaddr
	if k.v6 {
		rxa = &unix.SockaddrInet6{Port: bfdControlPort}
	} else {
		rxa = &unix.SockaddrInet4{Port: bfdControlPort}
	}
	if err := unix.Bind(s.rx, rxa); err != nil {
		return fail("bind BFD port 3784", err)
	}
	// RFC 5881: a source port in 49152-65535, the same for every packet of
	// a session. Try random ones, a bounded number of times.
	var berr error
	for range 64 {
		var r [2]byte
		_, _ = rand.Read(r[:])
		port := bfdSrcPortMin + int(binary.BigEndian.Uint16(r[:]))%(bfdSrcPortMax-bfdSrcPortMin+1)
		if k.v6 {
			txa = &unix.SockaddrInet6{Port: port}
		} else {
			txa = &unix.SockaddrInet4{Port: port}
		}
		if berr = unix.Bind(s.tx, txa); berr == nil {
			break
		}
	}
	if berr != nil {
		return fail("bind BFD source port", berr)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.rx)}
	if err := unix.EpollCtl(t.epfd, unix.EPOLL_CTL_ADD, s.rx, &ev); err != nil {
		return fail("epoll_ctl", err)
	}
	return s, nil
}

// sendBFD sends one control packet for tg on its interface's socket. The
// kernel never blocks it (a full buffer is an error, and the packet lost).
func (t *linuxTransport) sendBFD(tg *target, pkt []byte) error {
	s := tg.tx.bfd
	if s == nil {
		return os.ErrClosed
	}
	tx := &tg.tx
	s.txIOV.Base = &pkt[0]
	s.txIOV.SetLen(len(pkt))
	s.txMsg = unix.Msghdr{Iov: &s.txIOV, Iovlen: 1, Control: &tx.ctl[0]}
	s.txMsg.SetControllen(tx.clen)
	if tg.t.Addr.Is4() {
		s.txMsg.Name = (*byte)(unsafe.Pointer(&tx.sa4))
		s.txMsg.Namelen = unix.SizeofSockaddrInet4
	} else {
		s.txMsg.Name = (*byte)(unsafe.Pointer(&tx.sa6))
		s.txMsg.Namelen = unix.SizeofSockaddrInet6
	}
	_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.tx), uintptr(unsafe.Pointer(&s.txMsg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	if e != 0 {
		return e
	}
	return nil
}

// drainBFD reads every BFD packet waiting and hands them to the Poller.
// Called by the scheduler goroutine without Poller.mu; sockets released
// meanwhile are closed only when it is done.
func (t *linuxTransport) drainBFD() {
	if t.bfd.open.Load() == 0 {
		// None (a socket opened meanwhile is level-triggered in epoll:
		// read at the next turn).
		return
	}
	t.lk.Lock()
	b := &t.bfd
	if t.closed || len(b.list) == 0 {
		t.lk.Unlock()
		return
	}
	b.draining = true
	b.scratch = append(b.scratch[:0], b.list...)
	t.lk.Unlock()
	for _, s := range b.scratch {
		s.drain(t.p.deliverBFD)
	}
	t.lk.Lock()
	b.draining = false
	for _, s := range b.pending {
		s.close()
	}
	clear(b.pending)
	b.pending = b.pending[:0]
	t.lk.Unlock()
}

// drain reads the packets waiting on s's receive socket with recvmmsg.
func (s *bfdSock) drain(deliver func([]bfdRx)) {
	for range 16 { // bounded: the scheduler must get back to its timers
		n, ok := recvBatch(s.rx, &s.mm, &s.slots)
		if !ok {
			return
		}
		for i := 0; i < n; i++ {
			s.parse(i, &s.pks[i])
		}
		deliver(s.pks[:n])
		if n < rxBatch {
			return
		}
	}
}

// parse fills rx from the i-th received message: source, TTL or hop limit.
func (s *bfdSock) parse(i int, rx *bfdRx) {
	m, sl := &s.mm[i], &s.slots[i]
	*rx = bfdRx{iface: s.iface, ifindex: s.key.ifindex, ttl: -1}
	if m.hdr.Flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || int(m.n) > len(sl.buf) {
		rx.malformed = true
		return
	}
	rx.data = sl.buf[:m.n]
	if s.key.v6 {
		rx.src = netip.AddrFrom16(sl.name.Addr).Unmap()
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sl.name))
		rx.src = netip.AddrFrom4(sa.Addr)
	}
	oob := sl.oob[:m.hdr.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		data := oob[unix.SizeofCmsghdr:l]
		if len(data) >= 4 && ((h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL) ||
			(h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT)) {
			rx.ttl = int(*(*int32)(unsafe.Pointer(&data[0])))
		}
		adv := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if adv > len(oob) {
			return
		}
		oob = oob[adv:]
	}
}

// closeBFD closes every BFD socket. Called by close with lk held.
func (t *linuxTransport) closeBFDSockets() {
	for _, s := range t.bfd.list {
		s.close()
	}
	t.bfd.list = nil
	t.bfd.open.Store(0)
	clear(t.bfd.socks)
}
