//go:build linux

package linkmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/ethtool"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// kernel is the Linux side of a Watcher: the notification socket and its
// reader, the request socket (dumps and carrier checks), the carrier check
// loop and the ethtool worker.
type kernel struct {
	c     *core
	cfg   *config
	log   *slog.Logger
	netns int // our duplicate of Config.NetNS, or 0

	mu     sync.Mutex // guards closed and notif replacement
	closed bool
	notif  *notifSock

	reqMu sync.Mutex // serialises the request socket: dumps and checks
	req   *reqSock

	checks, checkChanges atomic.Uint64

	nicKick chan struct{}
	eth     *ethWorker
	done    chan struct{}
	wg      sync.WaitGroup
}

// Open starts watching links. A nil cfg means the defaults. It returns an
// *Error: wrapping os.ErrNotExist when a selected interface does not exist
// (unless Config.AllowMissing), os.ErrPermission when the namespace cannot be
// entered; or a plain error for an invalid Config.
func Open(ctx context.Context, cfg *Config) (*Watcher, error) {
	vc, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := &kernel{cfg: vc, log: vc.Logger, nicKick: make(chan struct{}, 1), done: make(chan struct{})}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if vc.NetNS != 0 {
		// Above the standard descriptors (netns.Dup): a duplicate
		// numbered 0 would mean "the caller's namespace" to every reopen.
		fd, err := netns.Dup(vc.NetNS)
		if err != nil {
			return nil, &Error{Op: "open", Err: err}
		}
		k.netns = fd
	}
	c := newCore(vc)
	k.c = c
	if err := k.openSockets(); err != nil {
		k.closeFDs()
		return nil, err
	}
	c.onNIC = func() {
		select {
		case k.nicKick <- struct{}{}:
		default:
		}
	}
	if vc.Ethtool {
		k.eth = newEthWorker(k)
		c.onEthtool = k.eth.want
	}
	if err := k.resync(); err != nil {
		k.closeFDs()
		return nil, err
	}
	if !vc.AllowMissing {
		snap := c.snapshot()
		for _, sel := range vc.Interfaces {
			found := false
			for _, l := range snap.Links {
				if (sel.Index != 0 && l.Index == sel.Index) || (sel.Index == 0 && l.Name == sel.Name) {
					found = true
					break
				}
			}
			if !found {
				k.closeFDs()
				return nil, &Error{Op: "open", Interface: sel, Err: fmt.Errorf("no such interface: %w", syscall.ENODEV)}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		k.closeFDs()
		return nil, err
	}
	c.start()
	k.wg.Add(1)
	go k.read()
	if vc.CheckInterval > 0 {
		k.wg.Add(1)
		go k.checkLoop()
	}
	if k.eth != nil {
		k.wg.Add(1)
		go k.eth.run()
	}
	return &Watcher{c: c, k: k}, nil
}

// inNetNS runs fn on a thread inside the namespace netns (0: the caller's).
// The thread is never unlocked, so it exits with its goroutine and no other
// goroutine ever runs in the wrong namespace. Sockets fn opens stay there.
func inNetNS(fd int, fn func() error) error {
	err := netns.Do(fd, fn)
	if ee, ok := err.(*netns.EnterError); ok {
		return &Error{Op: "enter namespace", Err: ee.Err}
	}
	return err
}

func (k *kernel) openSockets() error {
	var n *notifSock
	var r *reqSock
	err := inNetNS(k.netns, func() error {
		var err error
		if n, err = openNotif(k.cfg.ReadBuffer); err != nil {
			return err
		}
		r, err = openReq()
		return err
	})
	if err != nil {
		if n != nil {
			n.close()
		}
		return err
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		n.close()
		r.close()
		return errClosed
	}
	old := k.notif
	k.notif = n
	k.mu.Unlock()
	if old != nil {
		old.close()
	}
	k.reqMu.Lock()
	oldr := k.req
	k.req = r
	k.reqMu.Unlock()
	if oldr != nil {
		oldr.close()
	}
	return nil
}

var errClosed = errors.New("linkmon: watcher closed")

func (k *kernel) isClosed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.closed
}

// close stops the kernel side and waits for its goroutines.
func (k *kernel) close() {
	k.mu.Lock()
	if !k.closed {
		k.closed = true
		close(k.done)
		if k.notif != nil {
			k.notif.close() // interrupts the reader
		}
	}
	k.mu.Unlock()
	k.wg.Wait()
	k.closeFDs()
}

func (k *kernel) closeFDs() {
	k.mu.Lock()
	k.closed = true
	if k.notif != nil {
		k.notif.close()
	}
	k.mu.Unlock()
	k.reqMu.Lock()
	if k.req != nil {
		k.req.close()
		k.req = nil
	}
	k.reqMu.Unlock()
	if k.eth != nil {
		k.eth.close()
	}
	if k.netns != 0 {
		unix.Close(k.netns)
		k.netns = 0
	}
}

func (k *kernel) counters(c *Counters) {
	c.Checks = k.checks.Load()
	c.CheckChanges = k.checkChanges.Load()
}

// read is the notification reader: the hot path from the kernel to the
// subscribers. It allocates nothing per message.
func (k *kernel) read() {
	defer k.wg.Done()
	var m linkMsg
	for {
		s := k.notif
		n, err := s.recv()
		if err == nil && n > len(s.buf) {
			err = unix.ENOBUFS // truncated: as good as lost
			s.grow(n)
		}
		if err != nil {
			if k.isClosed() {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				k.c.count(func(c *Counters) { c.Overruns++ })
				// While the socket is "congested" the kernel drops further
				// notifications without reporting ENOBUFS again; it clears
				// that state when a read finds the queue empty. So drain
				// first (the queued messages are older than the dump), then
				// dump: a loss after the drain is reported anew.
				s.drain()
				rerr := k.resync()
				if rerr == nil {
					continue
				}
				err = fmt.Errorf("resynchronise after overrun: %w", rerr)
			}
			if !k.recover(err) {
				return
			}
			continue
		}
		if s.from != 0 { // not the kernel
			k.c.count(func(c *Counters) { c.Dropped++ })
			continue
		}
		now := time.Now()
		if dropped := notifLinks(s.buf[:n], &m, func(m *linkMsg) {
			switch {
			case !m.deleted && m.nicLike():
				// The kernel may hold a NIC-like device's notification back
				// for up to a second, so it can be older than what a carrier
				// check already applied: take it as a hint and ask.
				k.query(m.index, m, false)
			case m.deleted:
				// Under the request lock, so that a check's reply read
				// before the deletion cannot be applied after it.
				k.reqMu.Lock()
				k.c.apply(m, now)
				k.reqMu.Unlock()
			default:
				k.c.apply(m, now)
			}
		}); dropped > 0 {
			k.c.count(func(c *Counters) { c.Dropped += uint64(dropped) })
		}
	}
}

// recover reports a fatal socket error and reopens the sockets with backoff
// until it works or the watcher is closed (then it returns false).
func (k *kernel) recover(cause error) bool {
	werr := &Error{Op: "receive", Err: cause}
	k.c.setHealth(werr, time.Now())
	k.log.Warn("linkmon: netlink socket failed; reopening", "err", cause)
	backoff := 10 * time.Millisecond
	for {
		t := time.NewTimer(backoff)
		select {
		case <-k.done:
			t.Stop()
			return false
		case <-t.C:
		}
		err := k.openSockets()
		if err == nil {
			err = k.resync()
		}
		if err == nil {
			k.c.count(func(c *Counters) { c.Reopens++ })
			k.c.setHealth(nil, time.Now())
			k.log.Info("linkmon: netlink sockets reopened")
			return true
		}
		if k.isClosed() {
			return false
		}
		k.c.setHealth(&Error{Op: "reopen", Err: err}, time.Now())
		backoff = min(backoff*2, 5*time.Second)
	}
}

// query asks the kernel for one link and applies the answer. If the query
// fails and fallback is non-nil with a usable message, that is applied.
func (k *kernel) query(index int, fallback *linkMsg, check bool) {
	k.reqMu.Lock()
	defer k.reqMu.Unlock()
	if k.req == nil {
		return
	}
	m, errno, err := k.req.getLink(index)
	now := time.Now()
	if errno == unix.ENODEV {
		// Gone: apply the deletion now (its notification may have been
		// lost); a later RTM_DELLINK then finds nothing to do.
		k.c.apply(&linkMsg{deleted: true, index: index}, now)
		return
	}
	if err != nil || errno != 0 {
		if errno == 0 && fallback != nil && !check {
			k.c.apply(fallback, now)
		}
		return
	}
	if !check {
		k.c.apply(m, now)
		return
	}
	k.checks.Add(1)
	if k.c.applyCheck(m, now) {
		k.checkChanges.Add(1)
	}
}

// check probes one link's carrier with ETHTOOL_GLINK and asks rtnetlink
// only when the answer differs from the table (or the driver has no link
// query, or the name moved).
func (k *kernel) check(tg checkTarget) {
	k.reqMu.Lock()
	r := k.req
	if r == nil {
		k.reqMu.Unlock()
		return
	}
	if r.probe != nil {
		up, errno := r.probe.link(tg.name)
		if errno == 0 && up == tg.carrier {
			k.reqMu.Unlock()
			k.checks.Add(1)
			return
		}
	}
	k.reqMu.Unlock()
	k.query(tg.index, nil, true)
}

// resync dumps the link table, applies it and forgets links the dump did not
// list. An interrupted dump (NLM_F_DUMP_INTR) is retried.
func (k *kernel) resync() error {
	k.reqMu.Lock()
	defer k.reqMu.Unlock()
	if k.req == nil {
		return errClosed
	}
	for range 10 {
		seen := make(map[int]bool)
		now := time.Now()
		intr, err := k.req.dump(func(m *linkMsg) {
			seen[m.index] = true
			k.c.apply(m, now)
		})
		k.c.count(func(c *Counters) { c.Dumps++ })
		if err != nil {
			return &Error{Op: "dump", Err: err}
		}
		if !intr {
			k.c.reconcile(seen, time.Now())
			return nil
		}
		k.c.count(func(c *Counters) { c.DumpRetries++ })
	}
	return &Error{Op: "dump", Err: errors.New("dump interrupted 10 times in a row")}
}

// checkLoop queries the carrier of every watched, administratively up
// NIC-like link every CheckInterval. With no such link it sleeps without a
// timer until one appears.
func (k *kernel) checkLoop() {
	defer k.wg.Done()
	base := k.cfg.CheckInterval
	cur := base
	t := time.NewTicker(cur)
	defer t.Stop()
	var targets []checkTarget
	for {
		targets = append(targets[:0], k.c.nicTargets()...)
		if len(targets) == 0 {
			t.Stop()
			select {
			case <-k.done:
				return
			case <-k.nicKick:
				t.Reset(cur)
				continue
			}
		}
		if iv := checkInterval(base, k.cfg.autoInterval, len(targets)); iv != cur {
			cur = iv
			t.Reset(cur)
		}
		for _, tg := range targets {
			k.check(tg)
		}
		select {
		case <-k.done:
			return
		case <-t.C:
		}
	}
}

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

// ethWorker reads ethtool detail off the event path.
type ethWorker struct {
	k      *kernel
	client *ethtool.Client
	mu     sync.Mutex
	set    map[int]bool
	kick   chan struct{}
	errors atomic.Uint64
}

func newEthWorker(k *kernel) *ethWorker {
	w := &ethWorker{k: k, set: make(map[int]bool), kick: make(chan struct{}, 1)}
	err := inNetNS(k.netns, func() error {
		var err error
		w.client, err = ethtool.New()
		return err
	})
	if err != nil {
		k.log.Warn("linkmon: ethtool unavailable; detail stays unknown", "err", err)
	}
	return w
}

func (w *ethWorker) want(index int) {
	w.mu.Lock()
	w.set[index] = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *ethWorker) run() {
	defer w.k.wg.Done()
	var todo []int
	for {
		select {
		case <-w.k.done:
			return
		case <-w.kick:
		}
		if w.client == nil {
			continue
		}
		w.mu.Lock()
		todo = todo[:0]
		for i := range w.set {
			todo = append(todo, i)
		}
		clear(w.set)
		w.mu.Unlock()
		for _, i := range todo {
			name, ok := w.k.c.name(i)
			if !ok {
				continue
			}
			d := w.detail(i)
			w.k.c.setDetail(i, name, d, time.Now())
		}
	}
}

func (w *ethWorker) detail(index int) Detail {
	d := Detail{Read: true}
	ifi := ethtool.Interface{Index: index}
	lm, err := w.client.LinkMode(ifi)
	switch {
	case err == nil:
		d.Supported = true
		if s := lm.SpeedMegabits; s > 0 && uint32(s) != 0xFFFFFFFF {
			d.SpeedMbps = s
		}
		switch lm.Duplex {
		case ethtool.Half:
			d.Duplex = DuplexHalf
		case ethtool.Full:
			d.Duplex = DuplexFull
		}
		switch lm.Autoneg {
		case ethtool.AutonegOn:
			d.Autoneg = Yes
		case ethtool.AutonegOff:
			d.Autoneg = No
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		w.k.c.count(func(c *Counters) { c.EthtoolErrors++ })
	}
	ls, err := w.client.LinkState(ifi)
	switch {
	case err == nil:
		d.LinkDetected = No
		if ls.Link {
			d.LinkDetected = Yes
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		w.k.c.count(func(c *Counters) { c.EthtoolErrors++ })
	}
	return d
}

func (w *ethWorker) close() {
	if w.client != nil {
		w.client.Close()
		w.client = nil
	}
}
