//go:build linux

package linkmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"

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

// open starts the kernel side and returns the watcher; vc is validated.
func open(ctx context.Context, vc *config) (*Watcher, error) {
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
				if (sel.Name != "" && l.Name == sel.Name) || (sel.Name == "" && l.Index == sel.Index) {
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
	if !vc.NoCarrierCheck {
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
