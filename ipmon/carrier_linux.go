//go:build linux

package ipmon

import (
	"errors"
	"sync/atomic"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Recovery after carrier returns. When an interface loses carrier the
// kernel flushes its neighbour entries; the probes sent meanwhile create
// new ones, INCOMPLETE, whose solicitations go nowhere and are retried
// only every retrans_time (1 s). When carrier returns, the next
// solicitation is still up to a second away, and a packet sent to an
// INCOMPLETE entry only waits in its queue: measured here, 580-700 ms from
// carrier back to "alive" at 10 ms x 2 replies. So when a link with
// targets gets its carrier back, the Poller deletes that link's
// INCOMPLETE and FAILED neighbour entries (they hold nothing learnt); the
// next probe creates a fresh entry, which solicits at once.

// carrierWatch is the state of the flush. Used by the link follower
// goroutine only; a link's carrier before a notification is the link
// table's (addrtable_linux.go), which the notification has not changed yet.
type carrierWatch struct {
	refused bool // EPERM once: not tried again
	// off turns the flush off: tests measure the kernel's own recovery
	// with it, as a baseline.
	off atomic.Bool
}

// noteCarrier is called by the link follower with every RTM_NEWLINK, before
// the table applies it. On a carrier return (IFF_LOWER_UP set after it was
// clear) of an interface with targets, it flushes the interface's
// unresolved neighbour entries.
func (t *linuxTransport) noteCarrier(lm *rtnetlink.LinkMessage) {
	cw := &t.carrier
	up := hasCarrier(lm.Flags)
	// The carrier before this notification: the table's (Open's dump, then
	// every notification), which applies this one only after.
	was, known := t.table.carrier(int(lm.Index))
	if !up || !known || was || cw.refused || cw.off.Load() || lm.Attributes == nil {
		return
	}
	if !t.p.hasInterface(lm.Attributes.Name) {
		return
	}
	n, err := t.flushUnresolved(lm.Index)
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		// Without CAP_NET_ADMIN recovery takes up to retrans_time longer;
		// say so once, do not retry.
		cw.refused = true
		// Its own key: the interface's own is the StrictIngress check's.
		t.p.diagnoseAs(diagKey(lm.Attributes.Name, "carrier"), lm.Attributes.Name, "ipmon: cannot delete unresolved neighbour entries after carrier returns "+
			"(needs CAP_NET_ADMIN): recovery may wait up to the neighbour retransmit time (1 s)")
	case err != nil:
		t.p.log.Debug("ipmon: flush unresolved neighbours after carrier return", "interface", lm.Attributes.Name, "err", err)
	default:
		if n > 0 {
			t.p.log.Debug("ipmon: carrier back, unresolved neighbours flushed", "interface", lm.Attributes.Name, "entries", n)
		}
	}
}

// flushUnresolved deletes the INCOMPLETE and FAILED neighbour entries
// (IPv4 and IPv6) of the link index and returns how many it deleted. The
// dump and the deletions run without lk (a netlink.Conn is safe for
// concurrent use): Add and the scheduler's BFD drain, which take lk, do
// not wait for them. t.rt stays open meanwhile: close stops the link
// follower, the only caller, before it closes t.rt.
func (t *linuxTransport) flushUnresolved(index uint32) (int, error) {
	t.lk.Lock()
	closed := t.closed
	t.lk.Unlock()
	if closed {
		return 0, nil
	}
	neighs, err := t.rt.Neigh.List()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, nm := range neighs {
		if nm.Index != index || nm.State&(unix.NUD_INCOMPLETE|unix.NUD_FAILED) == 0 || nm.Attributes == nil || len(nm.Attributes.Address) == 0 {
			continue
		}
		req := &rtnetlink.NeighMessage{Family: nm.Family, Index: index, Attributes: &rtnetlink.NeighAttributes{Address: nm.Attributes.Address}}
		if _, err := t.rt.Execute(req, unix.RTM_DELNEIGH, netlink.Request|netlink.Acknowledge); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
