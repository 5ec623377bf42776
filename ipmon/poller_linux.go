//go:build linux

package ipmon

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// open opens the sockets and starts a Poller for the validated c.
func open(ctx context.Context, c Config) (*Poller, error) {
	// Keep a copy of the caller's namespace descriptor: the caller may
	// close its own right after Open, and a reused number would then name
	// another namespace (issue 12 item 7). The transport closes the copy.
	if c.NetNS != 0 {
		fd, err := netns.Dup(c.NetNS)
		if err != nil {
			return nil, fmt.Errorf("ipmon: %w", err)
		}
		c.NetNS = fd
	}
	tr, err := openTransport(&c)
	if err != nil {
		if c.NetNS != 0 {
			unix.Close(c.NetNS)
		}
		return nil, err
	}
	p, err := newPoller(c, tr)
	if err != nil {
		tr.close()
		return nil, err
	}
	return p, nil
}

// inNetNS runs fn on an OS thread inside the namespace held by fd (0: the
// caller's namespace, on the caller's thread). Sockets fn opens stay in the
// namespace. The thread is discarded afterwards.
func inNetNS(fd int, fn func() error) error {
	err := netns.Do(fd, fn)
	if ee, ok := err.(*netns.EnterError); ok {
		return fmt.Errorf("ipmon: enter network namespace: %w", ee.Err)
	}
	return err
}

// txState is a target's sending state: destination, control message.
type txState struct {
	fd   int // socket to send on
	sock *txSocket
	arp  *arpSocket
	bfd  *bfdSock
	sa4  unix.RawSockaddrInet4
	sa6  unix.RawSockaddrInet6
	ctl  [64]byte
	clen int
	// queued is the transport's flush generation when this target's
	// packet was last queued: its buffer is in use until that flush.
	queued uint64
}

// txSocket is a raw socket bound to one interface, used to send only.
type txSocket struct {
	fd   int
	refs int
}

type txKey struct {
	ifindex int
	v6      bool
}

// rxBatch is how many packets one recvmmsg call (and one hold of the
// Poller's lock) handles at most.
const rxBatch = 32

// mmsghdr is struct mmsghdr (x/sys/unix does not define it).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// rxSlot is the preallocated storage for one received packet.
type rxSlot struct {
	iov  unix.Iovec
	name unix.RawSockaddrInet6
	buf  [2048]byte
	oob  [128]byte
}

// rxSocket receives echo replies of one family (and, in unprivileged mode,
// sends every probe of that family).
type rxSocket struct {
	v6    bool
	raw   bool
	fd    int
	id    uint16
	mm    [rxBatch]mmsghdr
	slots [rxBatch]rxSlot
	pks   [rxBatch]rxPacket
}

type linuxTransport struct {
	cfg   *Config
	netns int
	m     Mode
	rx4   *rxSocket
	rx6   *rxSocket
	err6  error

	// The scheduler sleeps in epoll_pwait2 on the receive sockets and an
	// eventfd that kick writes to.
	epfd, evfd int
	events     [4]unix.EpollEvent
	noPwait2   bool

	lk     sync.Mutex // guards rt, txs, arps, closed
	rt     *rtnetlink.Conn
	txs    map[txKey]*txSocket
	arps   map[int]*arpSocket
	bfd    bfdSockets
	closed bool

	// links is subscribed to the namespace's link and address
	// notifications, which keep table (see addrtable_linux.go), so that
	// targets follow an interface deleted and created again (a new
	// index), also when its addresses come later, and their source
	// addresses and locality follow address changes.
	links   *netlink.Conn
	linksWG sync.WaitGroup
	closing atomic.Bool
	carrier carrierWatch // used by followLinks only (carrier_linux.go)
	// carrierProbes: per-device carrier readings after local send errors
	// (carrierprobe_linux.go).
	carrierProbes carrierProbes
	table         *addrTable
	bar           barriers

	// Probes queued by send for one sendmmsg, used under Poller.mu.
	txFD  int
	txN   int
	txGen uint64 // incremented by every flush
	txMM  [txBatch]mmsghdr
	txIOV [txBatch]unix.Iovec
	// The target and probe number of each queued message, for
	// Poller.sendFailed.
	txTg    [txBatch]*target
	txProbe [txBatch]uint32

	p     *Poller
	arpWG sync.WaitGroup
}

// permError reports that no ICMP socket could be opened.
type permError struct{ raw, unpriv error }

func (e *permError) Error() string {
	var b strings.Builder
	b.WriteString("ipmon: cannot open an ICMP socket")
	if e.raw != nil {
		fmt.Fprintf(&b, "; raw: %v", e.raw)
		if errors.Is(e.raw, unix.EPERM) || errors.Is(e.raw, unix.EACCES) {
			b.WriteString(" (needs CAP_NET_RAW)")
		}
	}
	if e.unpriv != nil {
		fmt.Fprintf(&b, "; unprivileged: %v", e.unpriv)
		if errors.Is(e.unpriv, unix.EACCES) || errors.Is(e.unpriv, unix.EPERM) {
			b.WriteString(" (the process's group is not in net.ipv4.ping_group_range)")
		}
	}
	return b.String()
}

func (e *permError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.raw, e.unpriv} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func openTransport(cfg *Config) (*linuxTransport, error) {
	t := &linuxTransport{
		txGen: 1,
		cfg:   cfg,
		netns: cfg.NetNS,
		txs:   make(map[txKey]*txSocket),
		arps:  make(map[int]*arpSocket),
		table: newAddrTable(),
	}
	var rawErr, unprivErr error
	if cfg.Mode == ModeAuto || cfg.Mode == ModeRaw {
		t.rx4, rawErr = t.openRx(false, true)
		if rawErr == nil {
			t.m = ModeRaw
		}
	}
	if t.rx4 == nil && (cfg.Mode == ModeAuto || cfg.Mode == ModeUnprivileged) {
		t.rx4, unprivErr = t.openRx(false, false)
		if unprivErr == nil {
			t.m = ModeUnprivileged
		}
	}
	if t.rx4 == nil {
		return nil, &permError{raw: rawErr, unpriv: unprivErr}
	}
	var err error
	t.rx6, err = t.openRx(true, t.m == ModeRaw)
	if err != nil {
		t.err6 = fmt.Errorf("ipmon: no ICMPv6 socket: %w", err)
	}
	var nc *netlink.Config
	if t.netns != 0 {
		nc = &netlink.Config{NetNS: t.netns}
	}
	t.rt, err = rtnetlink.Dial(nc)
	if err != nil {
		t.closeRx()
		return nil, fmt.Errorf("ipmon: rtnetlink: %w", err)
	}
	lc := netlink.Config{NetNS: t.netns, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	t.links, err = netlink.Dial(unix.NETLINK_ROUTE, &lc)
	if err != nil {
		t.closeRx()
		t.rt.Close()
		return nil, fmt.Errorf("ipmon: rtnetlink link notifications: %w", err)
	}
	// Subscribed first, then dumped: a change in between is queued on
	// links and applied over the dump.
	if err := t.dumpTable(); err != nil {
		t.closeRx()
		t.rt.Close()
		t.links.Close()
		return nil, err
	}
	if err := t.setupWait(); err != nil {
		t.closeRx()
		t.rt.Close()
		t.links.Close()
		return nil, err
	}
	return t, nil
}

func (t *linuxTransport) mode() Mode { return t.m }

// index implements transport, from the link table.
func (t *linuxTransport) index(name string) int {
	idx, _, ok := t.table.link(name)
	if !ok {
		return 0
	}
	return idx
}

func (t *linuxTransport) echoID(v6 bool) uint16 {
	if v6 {
		if t.rx6 == nil {
			return 0
		}
		return t.rx6.id
	}
	return t.rx4.id
}

// openRx opens the receive socket of a family: raw (sees every echo reply
// of the namespace, whatever interface it arrives on) or datagram (the
// kernel hands it the replies carrying its port as ID). It is not bound to
// an interface: a reply to a probe sent out of eth3 may arrive on eth2 (ARP
// flux), and the ingress rule is applied from IP_PKTINFO instead.
func (t *linuxTransport) openRx(v6, raw bool) (*rxSocket, error) {
	s := &rxSocket{v6: v6, raw: raw}
	family, proto, typ := unix.AF_INET, unix.IPPROTO_ICMP, unix.SOCK_RAW
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	if !raw {
		typ = unix.SOCK_DGRAM
	}
	var fd int
	err := inNetNS(t.netns, func() error {
		var err error
		fd, err = unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (*rxSocket, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if raw && !v6 {
		// Pass echo replies only (bit set = type blocked).
		mask := ^uint32(1 << icmpv4EchoReply)
		if err := unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(mask))); err != nil {
			return fail("setsockopt ICMP_FILTER", err)
		}
	}
	if v6 && raw {
		var f unix.ICMPv6Filter
		for i := range f.Data {
			f.Data[i] = ^uint32(0)
		}
		f.Data[icmpv6EchoReply>>5] &^= 1 << (icmpv6EchoReply & 31)
		if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
			return fail("setsockopt ICMPV6_FILTER", err)
		}
	}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return fail("setsockopt IPV6_RECVPKTINFO", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return fail("setsockopt IP_PKTINFO", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("setsockopt SO_TIMESTAMPNS", err)
	}
	// The kernel's count of packets dropped for a full receive buffer
	// comes with each packet received after one (Drops.Overflow).
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return fail("setsockopt SO_RXQ_OVFL", err)
	}
	// A large receive buffer absorbs bursts of replies; FORCE needs
	// CAP_NET_ADMIN, else the plain option is capped by rmem_max.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if raw {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fail("getrandom", err)
		}
		s.id = binary.BigEndian.Uint16(b[:])
	} else {
		// The kernel uses the socket's port as echo ID: bind to get one.
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if v6 {
			sa = &unix.SockaddrInet6{}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fail("bind", err)
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			return fail("getsockname", err)
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			s.id = uint16(a.Port)
		case *unix.SockaddrInet6:
			s.id = uint16(a.Port)
		}
	}
	// Only our echo replies get past the kernel (before the socket queue):
	// see replyFilter. Packets queued before the filter was attached fail
	// validation like any forged one.
	if err := attachReplyFilter(fd, v6, raw && !v6, s.id); err != nil {
		unix.Close(fd)
		return nil, err
	}
	s.fd = fd
	return s, nil
}

// drain reads every reply waiting on s with recvmmsg into preallocated
// buffers and hands each batch to deliver.
func (s *rxSocket) drain(deliver func([]rxPacket)) {
	// Bounded (256 packets a call): the scheduler must get back to its
	// sends and timeouts; whatever is left waits for the next turn.
	for range 8 {
		n, ok := recvBatch(s.fd, &s.mm, &s.slots)
		if !ok {
			return // EAGAIN: nothing more; anything else: try again later
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

// parse fills pk from the i-th received message.
func (s *rxSocket) parse(i int, pk *rxPacket) {
	m, sl := &s.mm[i], &s.slots[i]
	*pk = rxPacket{v6: s.v6}
	if m.hdr.Flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || int(m.n) > len(sl.buf) {
		pk.malformed = true
		return
	}
	pk.data = sl.buf[:m.n]
	parseControl(sl.oob[:m.hdr.Controllen], pk)
	if s.v6 {
		pk.src = netip.AddrFrom16(sl.name.Addr)
		return
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sl.name))
	pk.src = netip.AddrFrom4(sa.Addr)
	if s.raw {
		data, src, why := stripIPv4(pk.data)
		if why != dropNone {
			pk.malformed = true
			return
		}
		pk.data, pk.src = data, src
	}
}

// parseControl reads the ingress interface and the kernel timestamp from
// the control messages, without allocating.
func parseControl(oob []byte, pk *rxPacket) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		data := oob[unix.SizeofCmsghdr:l]
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			pk.rxWall = ts.Nano()
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
			pk.overflow = *(*uint32)(unsafe.Pointer(&data[0]))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pk.ifindex = int((*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0])).Ifindex)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pk.ifindex = int((*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0])).Ifindex)
		}
		adv := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if adv > len(oob) {
			return
		}
		oob = oob[adv:]
	}
}

func (t *linuxTransport) start(p *Poller) {
	t.p = p
	t.linksWG.Add(1)
	go t.followLinks()
}

// setupWait creates the epoll instance and the eventfd the scheduler sleeps
// on.
func (t *linuxTransport) setupWait() error {
	var err error
	if t.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if t.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(t.epfd)
		return os.NewSyscallError("eventfd", err)
	}
	for _, fd := range []int{t.evfd, t.rx4.fd, t.rx6fd()} {
		if fd < 0 {
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(t.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(t.epfd)
			unix.Close(t.evfd)
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	return nil
}

func (t *linuxTransport) rx6fd() int {
	if t.rx6 == nil {
		return -1
	}
	return t.rx6.fd
}

// wait sleeps in epoll_pwait2 (nanosecond timeout; epoll_wait with
// milliseconds, rounded up, where the kernel lacks it). It is a blocking
// system call on the scheduler goroutine's thread: no netpoller hand-off.
func (t *linuxTransport) wait(d time.Duration) {
	var n int
	if !t.noPwait2 {
		ts := unix.NsecToTimespec(int64(d))
		r, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(t.epfd), uintptr(unsafe.Pointer(&t.events[0])), uintptr(len(t.events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == unix.ENOSYS {
			t.noPwait2 = true
		}
		n = int(r)
		if e != 0 {
			n = 0
		}
	}
	if t.noPwait2 {
		ms := int((d + time.Millisecond - 1) / time.Millisecond)
		n, _ = unix.EpollWait(t.epfd, t.events[:], ms)
	}
	for i := 0; i < n; i++ {
		if int(t.events[i].Fd) == t.evfd {
			var b [8]byte
			_, _ = unix.Read(t.evfd, b[:])
		}
	}
}

func (t *linuxTransport) kick() {
	b := [8]byte{1}
	_, _ = unix.Write(t.evfd, b[:])
}

func (t *linuxTransport) drain() {
	t.rx4.drain(t.p.deliverBatch)
	if t.rx6 != nil {
		t.rx6.drain(t.p.deliverBatch)
	}
	t.drainBFD()
}

func (t *linuxTransport) closeRx() {
	for _, s := range []*rxSocket{t.rx4, t.rx6} {
		if s != nil {
			unix.Close(s.fd)
		}
	}
}

func (t *linuxTransport) close() error {
	// The link follower attaches targets, which takes lk: stop it first.
	t.closing.Store(true)
	t.links.Close()
	t.linksWG.Wait()
	t.closeRx()
	unix.Close(t.epfd)
	unix.Close(t.evfd)
	t.lk.Lock()
	defer t.lk.Unlock()
	t.closed = true
	for k, s := range t.txs {
		unix.Close(s.fd)
		delete(t.txs, k)
	}
	t.closeBFDSockets()
	var errs []error
	for k, a := range t.arps {
		errs = append(errs, a.close())
		delete(t.arps, k)
	}
	// The ARP readers return once their sockets are closed.
	t.arpWG.Wait()
	if t.rt != nil {
		errs = append(errs, t.rt.Close())
	}
	if t.netns != 0 {
		// Open's copy of the caller's descriptor.
		unix.Close(t.netns)
		t.netns = 0
	}
	return errors.Join(errs...)
}

// attach resolves the interface, refuses local addresses, chooses the
// source address and prepares the target's destination and control
// message, from the link and address table (no dump). A target whose
// interface has no address to probe from is prepared held (tg.hold).
func (t *linuxTransport) attach(tg *target) error {
	tgt := tg.t
	v6 := tgt.Addr.Is6()
	if tgt.Kind != ProbeARP && v6 && t.rx6 == nil {
		return t.err6
	}
	if t.isClosed() {
		return errClosed
	}
	idx, hw, err := t.checkTarget(tgt)
	if err != nil {
		return err
	}
	tg.ifindex = idx
	src, hold := t.chooseSource(tgt, idx)
	if tgt.Kind == ProbeLinkLocalEcho && hold == HoldNoSource {
		return fmt.Errorf("%w: interface %q has no IPv6 link-local address for link-local echo", ErrInvalidTarget, tgt.Interface)
	}
	tg.src, tg.hold = src, hold
	if err := t.bindTx(tg, hw, v6); err != nil {
		return err
	}
	switch tgt.Kind {
	case ProbeARP:
	case ProbeBFD:
		prepareDest(&tg.tx, tgt, src, tg.ifindex)
		prepareBFDDest(&tg.tx, v6)
	default:
		prepareDest(&tg.tx, tgt, src, tg.ifindex)
		if t.cfg.StrictIngress && !v6 {
			if msg := t.checkARPSysctls(tgt.Interface); msg != "" {
				t.p.diagnose(tgt.Interface, msg)
			}
		}
	}
	return nil
}

func (t *linuxTransport) isClosed() bool {
	t.lk.Lock()
	defer t.lk.Unlock()
	return t.closed
}

// checkTarget checks tgt against the link and address table: its
// interface exists (its index and hardware address are returned), its
// address is neither local nor a local broadcast address, and its Source,
// if set, is local.
func (t *linuxTransport) checkTarget(tgt Target) (int, net.HardwareAddr, error) {
	idx, hw, ok := t.table.link(tgt.Interface)
	if !ok {
		return 0, nil, fmt.Errorf("%w %q (target %v)", ErrUnknownInterface, tgt.Interface, tgt.Addr)
	}
	if at, ok := t.table.local(tgt.Addr); ok {
		return 0, nil, fmt.Errorf("%w: %v is an address of this host (interface index %d): a node can always reach itself", ErrLocalAddress, tgt.Addr, at)
	}
	if t.table.broadcast(tgt.Addr) {
		return 0, nil, fmt.Errorf("%w: %v is a broadcast address of this host", ErrInvalidTarget, tgt.Addr)
	}
	if tgt.Source.IsValid() {
		if _, ok := t.table.local(tgt.Source); !ok {
			return 0, nil, fmt.Errorf("%w: source %v is not an address of this host", ErrInvalidTarget, tgt.Source)
		}
	}
	return idx, hw, nil
}

// bindTx gives tg the socket its probes leave by: the ARP or BFD socket of
// its interface, the raw socket bound to its interface (shared by every
// target there, reference counted), or the family's datagram socket.
func (t *linuxTransport) bindTx(tg *target, hw net.HardwareAddr, v6 bool) error {
	t.lk.Lock()
	defer t.lk.Unlock()
	if t.closed {
		return errClosed
	}
	switch {
	case tg.t.Kind == ProbeARP:
		return t.attachARP(tg, hw)
	case tg.t.Kind == ProbeBFD:
		return t.attachBFD(tg, tg.t.Interface, v6)
	case t.m == ModeRaw:
		k := txKey{tg.ifindex, v6}
		s := t.txs[k]
		if s == nil {
			var err error
			if s, err = t.openTx(tg.ifindex, v6); err != nil {
				return err
			}
			t.txs[k] = s
		}
		s.refs++
		tg.tx.sock, tg.tx.fd = s, s.fd
	case v6:
		tg.tx.fd = t.rx6.fd
	default:
		tg.tx.fd = t.rx4.fd
	}
	return nil
}

// prepareDest fills the destination sockaddr and an IP_PKTINFO /
// IPV6_PKTINFO control message naming the egress interface (and source).
// On a raw socket bound to the interface it repeats the binding; on a
// datagram socket (unprivileged mode, one unbound socket per family, since
// the kernel hands a ping socket bound to eth3 no reply that arrives on
// eth2) it is what pins the egress, with the same routing effect as
// SO_BINDTODEVICE.
func prepareDest(tx *txState, tgt Target, src netip.Addr, ifindex int) {
	if tgt.Addr.Is4() {
		tx.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: tgt.Addr.As4()}
		h := (*unix.Cmsghdr)(unsafe.Pointer(&tx.ctl[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&tx.ctl[unix.CmsgLen(0)]))
		*pi = unix.Inet4Pktinfo{Ifindex: int32(ifindex)}
		if src.IsValid() {
			pi.Spec_dst = src.As4()
		}
		tx.clen = unix.CmsgSpace(unix.SizeofInet4Pktinfo)
		return
	}
	tx.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: tgt.Addr.As16()}
	if tgt.Addr.IsLinkLocalUnicast() {
		tx.sa6.Scope_id = uint32(ifindex)
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&tx.ctl[0]))
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&tx.ctl[unix.CmsgLen(0)]))
	*pi = unix.Inet6Pktinfo{Ifindex: uint32(ifindex)}
	if src.IsValid() {
		pi.Addr = src.As16()
	}
	tx.clen = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// openTx opens a raw socket bound to the interface, for sending only: a
// one-instruction BPF program drops everything it would receive (the
// unbound receive socket sees the replies).
func (t *linuxTransport) openTx(ifindex int, v6 bool) (*txSocket, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	var fd int
	err := inNetNS(t.netns, func() error {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// The kernel's ICMP filter, checked before a packet is cloned for a
	// raw socket, keeps replies from being copied here at all: block
	// every type. The BPF program drops anything else.
	if v6 {
		var f unix.ICMPv6Filter
		for i := range f.Data {
			f.Data[i] = ^uint32(0)
		}
		if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt ICMPV6_FILTER", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, -1); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt ICMP_FILTER", err)
	}
	drop := []unix.SockFilter{{Code: 0x06, K: 0}} // BPF_RET|BPF_K 0
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop[0]}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt SO_BINDTOIFINDEX", err)
	}
	return &txSocket{fd: fd}, nil
}

func (t *linuxTransport) detach(tg *target) {
	t.lk.Lock()
	defer t.lk.Unlock()
	if s := tg.tx.sock; s != nil {
		tg.tx.sock = nil
		s.refs--
		if s.refs == 0 && !t.closed {
			for k, v := range t.txs {
				if v == s {
					delete(t.txs, k)
				}
			}
			unix.Close(s.fd)
		}
	}
	if a := tg.tx.arp; a != nil {
		tg.tx.arp = nil
		t.detachARP(tg, a)
	}
	if b := tg.tx.bfd; b != nil {
		tg.tx.bfd = nil
		t.detachBFD(b)
	}
}

// txBatch is how many probes one sendmmsg call sends at most.
const txBatch = 64

// send queues one probe for sendmmsg (flushing first if it goes out of
// another socket), without allocating.
func (t *linuxTransport) send(tg *target, pkt []byte) error {
	if tg.t.Kind == ProbeARP {
		return t.sendARP(tg)
	}
	tx := &tg.tx
	if t.txN > 0 && (t.txFD != tx.fd || t.txN == txBatch || tx.queued == t.txGen) {
		// Another socket, a full batch, or this target's buffer is
		// queued already (it is sent again before the flush).
		t.flush()
	}
	tx.queued = t.txGen
	t.txFD = tx.fd
	i := t.txN
	t.txTg[i], t.txProbe[i] = tg, tg.next-1 // the probe sendSlot just numbered
	t.txIOV[i].Base = &pkt[0]
	t.txIOV[i].SetLen(len(pkt))
	m := &t.txMM[i].hdr
	*m = unix.Msghdr{Iov: &t.txIOV[i], Iovlen: 1, Control: &tx.ctl[0]}
	m.SetControllen(tx.clen)
	if tg.t.Addr.Is4() {
		m.Name = (*byte)(unsafe.Pointer(&tx.sa4))
		m.Namelen = unix.SizeofSockaddrInet4
	} else {
		m.Name = (*byte)(unsafe.Pointer(&tx.sa6))
		m.Namelen = unix.SizeofSockaddrInet6
	}
	t.txN++
	return nil
}

// flush sends the queued probes with sendmmsg. A full socket buffer or
// any other error fails that probe, never a wait: Poller.sendFailed
// decides whether it is a miss (a dead path) or nothing (local
// congestion).
func (t *linuxTransport) flush() int {
	failed := 0
	for off := 0; off < t.txN; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.txFD), uintptr(unsafe.Pointer(&t.txMM[off])), uintptr(t.txN-off), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e != 0 || r == 0 {
			// The message at off failed; go on with the next.
			if e == 0 {
				e = unix.EIO
			}
			t.p.sendFailed(t.txTg[off], t.txProbe[off], e)
			failed++
			off++
			continue
		}
		off += int(r)
	}
	clear(t.txTg[:t.txN])
	t.txN = 0
	t.txGen++
	return failed
}

// checkARPSysctls returns a diagnostic if the interface's ARP settings let
// replies to its probes arrive on another interface (ARP flux), which makes
// strict ingress unreliable; "" if they are strict.
func (t *linuxTransport) checkARPSysctls(iface string) string {
	read := func(scope, name string) int {
		var v int
		_ = inNetNS(t.netns, func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + scope + "/" + name)
			if err != nil {
				return err
			}
			v, err = strconv.Atoi(strings.TrimSpace(string(b)))
			return err
		})
		return v
	}
	ignore := max(read("all", "arp_ignore"), read(iface, "arp_ignore"))
	announce := max(read("all", "arp_announce"), read(iface, "arp_announce"))
	filter := read("all", "arp_filter") | read(iface, "arp_filter")
	if (ignore >= 1 && announce >= 2) || filter != 0 {
		return ""
	}
	return fmt.Sprintf("ipmon: strict ingress on %s is unreliable with arp_ignore=%d arp_announce=%d arp_filter=%d: "+
		"another interface on the same subnet may answer ARP for %s's address and receive its replies; "+
		"set net.ipv4.conf.%s.arp_ignore=1 and net.ipv4.conf.%s.arp_announce=2 (or net.ipv4.conf.%s.arp_filter=1), or turn StrictIngress off",
		iface, ignore, announce, filter, iface, iface, iface, iface)
}
