//go:build linux

package ipmon

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// barriers lets Add and Update wait until the link follower has applied
// every notification the kernel queued before they were called: a request
// sent on the notification socket itself is answered behind them.
type barriers struct {
	mu      sync.Mutex
	seq     uint32
	waiting []barrier
}

type barrier struct {
	seq uint32
	ch  chan struct{}
}

// release lets every waiter whose request was sent at or before seq go.
func (b *barriers) release(seq uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, w := range b.waiting {
		if int32(w.seq-seq) <= 0 {
			close(w.ch)
			continue
		}
		b.waiting[n] = w
		n++
	}
	b.waiting = b.waiting[:n]
}

// barrierTimeout bounds how long sync waits for the follower; then it dumps
// the table itself.
const barrierTimeout = time.Second

// sync returns once the table holds every link and address change made
// before it was called.
func (t *linuxTransport) sync() error {
	if t.closing.Load() {
		return errClosed
	}
	t.bar.mu.Lock()
	t.bar.seq++
	if t.bar.seq == 0 {
		t.bar.seq++
	}
	seq := t.bar.seq
	ch := make(chan struct{})
	t.bar.waiting = append(t.bar.waiting, barrier{seq, ch})
	t.bar.mu.Unlock()
	req, _ := (&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC, Index: 1}).MarshalBinary()
	_, err := t.links.Send(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request, Sequence: seq},
		Data:   req,
	})
	if err == nil {
		timer := time.NewTimer(barrierTimeout)
		defer timer.Stop()
		select {
		case <-ch:
			return nil
		case <-t.p.done:
			return errClosed
		case <-timer.C:
		}
	}
	// The request failed or its answer was lost (ENOBUFS): dump.
	if err := t.dumpTable(); err != nil {
		return err
	}
	t.bar.release(seq)
	return nil
}

// dumpTable fills the table from a dump of the namespace's links and
// addresses.
func (t *linuxTransport) dumpTable() error {
	t.lk.Lock()
	defer t.lk.Unlock()
	if t.closed {
		return errClosed
	}
	for try := 0; ; try++ {
		links, err := t.rt.Link.List()
		if err != nil {
			if errors.Is(err, unix.EINTR) && try < 3 {
				continue // interrupted dump (NLM_F_DUMP_INTR)
			}
			return fmt.Errorf("ipmon: list links: %w", err)
		}
		addrs, err := t.rt.Address.List()
		if err != nil {
			if errors.Is(err, unix.EINTR) && try < 3 {
				continue
			}
			return fmt.Errorf("ipmon: list addresses: %w", err)
		}
		t.table.reset(links, addrs)
		return nil
	}
}

// followLinks applies the link and address notifications to the table.
// After each batch it hands every link that appeared or changed, and every
// link that got an address, to Poller.rebind, which moves the targets of
// an interface that was created again under its old name, then has
// Poller.refresh re-check every target (local now? source address?). After
// lost notifications (ENOBUFS) it dumps the table again and does the same
// for every link. It returns when the socket is closed.
func (t *linuxTransport) followLinks() {
	defer t.linksWG.Done()
	pid := t.links.PID()
	for {
		msgs, err := t.links.Receive()
		if t.closing.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				t.bar.mu.Lock()
				sent := t.bar.seq
				t.bar.mu.Unlock()
				// What is still queued is older than what was lost:
				// applied over the dump it would undo newer changes.
				t.discardQueued()
				if err := t.dumpTable(); err != nil {
					t.p.setCondition(fmt.Errorf("ipmon: link and address notifications lost (ENOBUFS) and the dump failed: %w", err))
					t.pause()
					continue
				}
				t.p.setCondition(nil)
				t.bar.release(sent)
				for idx, name := range t.table.linkList() {
					t.p.rebind(name, idx)
				}
				t.p.refresh()
				continue
			}
			t.p.log.Warn("ipmon: link notifications", "err", err)
			t.p.setCondition(fmt.Errorf("ipmon: link and address notifications: %w", err))
			t.pause()
			continue
		}
		t.p.setCondition(nil)
		changed := false
		var barrierSeq uint32
		seen := make(map[int]bool)
		for _, m := range msgs {
			if m.Header.PID == pid && m.Header.Sequence != 0 {
				// The answer to a barrier request.
				barrierSeq = m.Header.Sequence
				continue
			}
			// Each message is decoded once, for the carrier check, the
			// table and the links to re-check.
			switch m.Header.Type {
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				var lm rtnetlink.LinkMessage
				if lm.UnmarshalBinary(m.Data) != nil {
					continue
				}
				newLink := m.Header.Type == unix.RTM_NEWLINK
				if newLink {
					// Every link notification, whether or not the
					// table changes, before the table applies it: a
					// carrier return flushes unresolved neighbours
					// (carrier_linux.go).
					t.noteCarrier(&lm)
					seen[int(lm.Index)] = true
				}
				t.table.applyLink(&lm, !newLink)
			case unix.RTM_NEWADDR, unix.RTM_DELADDR:
				var am rtnetlink.AddressMessage
				if am.UnmarshalBinary(m.Data) != nil {
					continue
				}
				newAddr := m.Header.Type == unix.RTM_NEWADDR
				if newAddr {
					seen[int(am.Index)] = true
				}
				t.table.applyAddr(&am, newAddr)
			default:
				continue
			}
			changed = true
		}
		if barrierSeq != 0 {
			t.bar.release(barrierSeq)
		}
		// Re-check first: a probe sent from an address that has just left
		// its interface (the interface's last one: the kernel then
		// flushes its neighbours) makes the kernel resolve the target with
		// another interface's address as ARP sender, which points the
		// target's cache at this interface for that other address.
		if changed {
			t.p.refresh()
		}
		for idx := range seen {
			if name, ok := t.table.linkName(idx); ok {
				t.p.rebind(name, idx)
			}
		}
	}
}

// discardQueued reads and drops the notifications queued on the socket,
// without blocking (bounded).
func (t *linuxTransport) discardQueued() {
	// A deadline already past fails before reading anything: give it a
	// millisecond to find the queue empty.
	if t.links.SetReadDeadline(time.Now().Add(time.Millisecond)) != nil {
		return
	}
	for range 10000 {
		if _, err := t.links.Receive(); err != nil && !errors.Is(err, unix.ENOBUFS) {
			break
		}
	}
	_ = t.links.SetReadDeadline(time.Time{})
}

func (t *linuxTransport) pause() {
	select {
	case <-t.p.done:
	case <-time.After(100 * time.Millisecond):
	}
}

// chooseSource returns the source address of tgt's probes out of the
// interface of index idx, or why it cannot be probed from there now.
func (t *linuxTransport) chooseSource(tgt Target, idx int) (netip.Addr, Hold) {
	t.table.mu.Lock()
	defer t.table.mu.Unlock()
	return pickSource(tgt, t.table.addrs, idx, t.table.links[idx].up)
}

// pickSource chooses from addrs (the table's, or a view's addresses of the
// interface). An interface that is administratively down is not held for
// want of an address (IPv6 drops its addresses when down, and a deleted
// interface goes down before it loses them): its probes fail, as a dead
// path's do.
func pickSource(tgt Target, addrs map[addrKey]tableAddr, idx int, up bool) (netip.Addr, Hold) {
	var src netip.Addr
	ok := true
	switch {
	case tgt.Kind == ProbeARP:
		return netip.Addr{}, HoldNone
	case tgt.Source.IsValid():
		return tgt.Source, HoldNone
	case tgt.Kind == ProbeLinkLocalEcho:
		src, ok = linkLocalOf(addrs, idx)
	default:
		src, ok = bestSource(addrs, idx, tgt.Addr)
	}
	switch {
	case ok:
		return src, HoldNone
	case !up:
		return netip.Addr{}, HoldNone
	}
	return netip.Addr{}, HoldNoSource
}

// resolver implements resolver: it works on a copy of the table taken
// once.
func (t *linuxTransport) resolver() func(Target) (int, netip.Addr, Hold) {
	v := t.table.view()
	return func(tgt Target) (int, netip.Addr, Hold) {
		idx, ok := v.byName[tgt.Interface]
		if !ok {
			return 0, netip.Addr{}, HoldNone
		}
		if v.local[tgt.Addr] {
			return idx, netip.Addr{}, HoldLocal
		}
		src, h := pickSource(tgt, v.byLink[idx], idx, v.up[idx])
		return idx, src, h
	}
}

// setSource implements resolver.
func (t *linuxTransport) setSource(tg *target, src netip.Addr) {
	if tg.t.Kind != ProbeARP {
		prepareDest(&tg.tx, tg.t, src, tg.ifindex)
	}
	if tg.t.Kind == ProbeBFD {
		// prepareDest rewrote the sockaddr with port 0.
		prepareBFDDest(&tg.tx, tg.t.Addr.Is6())
	}
}
