//go:build linux

package linkmon

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel loop: the notification reader (the hot path), recovery from
// socket failures, dumps and the carrier check of NIC-like links.

// read is the notification reader: the hot path from the kernel to the
// subscribers. It allocates nothing per message (the core allocates the one
// event a change makes).
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
	k.c.setCondition(werr, time.Now())
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
			k.c.setCondition(nil, time.Now())
			k.log.Info("linkmon: netlink sockets reopened")
			return true
		}
		if k.isClosed() {
			return false
		}
		k.c.setCondition(&Error{Op: "reopen", Err: err}, time.Now())
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
