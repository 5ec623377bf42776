//go:build linux

package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// Netconf attributes (include/uapi/linux/netconf.h); x/sys/unix has no
// names for them.
const (
	netconfaIfindex            = 1
	netconfaIgnoreRoutesLinkdn = 6
)

// maxTargetedInterfaces is the number of changed interfaces above which a
// refresh reads the whole state instead of each interface's routes.
const maxTargetedInterfaces = 16

// fullDumpShare bounds the time spent in full dumps under churn: after a
// full dump that took d, the next one waits until d*fullDumpShare has
// passed since it ended (at most 1/fullDumpShare of a core).
const fullDumpShare = 5

// refreshState is what the reader goroutine has to read again, and when.
type refreshState struct {
	dirty    map[int]bool // interfaces whose routes changed without notification
	carrier  map[int]bool // interfaces whose carrier alone changed (admin up)
	full     bool         // everything (overrun, IPv6 replace, failure)
	due      time.Time    // when to refresh; zero: nothing pending
	lastFull time.Time    // end of the last full dump
	fullCost time.Duration
	lastEnd  time.Time // end of the last refresh
	lastCost time.Duration
	backoff  time.Duration // after a failed refresh
}

// dupNetNS duplicates a namespace descriptor (internal/netns.Dup).
func dupNetNS(fd int) (int, error) {
	nfd, err := netns.Dup(fd)
	if err != nil {
		return 0, wrapErr("duplicate namespace descriptor", err)
	}
	return nfd, nil
}

// closeNetNS closes a duplicate made by dupNetNS (0: none) and zeroes it.
func closeNetNS(fd *int) {
	if *fd != 0 {
		unix.Close(*fd)
		*fd = 0
	}
}

func (v *View) closeSockets() {
	v.sub.Close()
	v.req.Close()
	v.filt.Close()
	closeNetNS(&v.nsFD)
}

// want schedules a refresh of interface index (0: none) or of everything.
func (v *View) want(index int, full bool) {
	now := time.Now()
	p := &v.pend
	if index != 0 {
		if p.dirty == nil {
			p.dirty = map[int]bool{}
		}
		p.dirty[index] = true
	}
	if v.cfg.redumpEveryHint {
		p.full = true
		p.due = now
		return
	}
	if p.due.IsZero() {
		// The first change after a quiet period is read at once; the
		// next ones wait for the window (or five times the last read,
		// if longer), so that a flapping link costs at most one read
		// per window and at most a fifth of a core.
		p.due = now
		if next := p.lastEnd.Add(max(v.cfg.Coalesce, fullDumpShare*p.lastCost)); next.After(now) {
			p.due = next
		}
	}
	if full && !p.full {
		p.full = true
		if next := p.lastFull.Add(fullDumpShare * p.fullCost); next.After(p.due) {
			p.due = next
			v.fullDumpsDelayed.Add(1)
		}
	}
}

// run is the reader goroutine: it applies notifications as they come,
// handles a failed receive, and reads again what they said changed when
// that is due.
func (v *View) run() {
	defer v.wg.Done()
	backoff := minReceiveBackoff
	for {
		c := v.subConn()
		_ = c.SetReadDeadline(v.pend.due) // zero: none
		msgs, err := c.Receive()
		if v.closed.Load() {
			return
		}
		if err == nil {
			backoff = minReceiveBackoff
			if ch := v.apply(msgs); ch != (ViewEvent{}) {
				v.notify(ch)
			}
		} else if !v.receiveFailed(err, &backoff) {
			return
		}
		if !v.pend.due.IsZero() && !time.Now().Before(v.pend.due) {
			v.refresh()
		}
	}
}

// receiveFailed handles a failed receive: an overrun (a fresh socket and
// a full dump), the read deadline (a refresh is due), or a broken socket.
// It reports false when the view is closing.
func (v *View) receiveFailed(err error, backoff *time.Duration) bool {
	var oe *netlink.OpError
	switch {
	case errors.Is(err, unix.ENOBUFS):
		v.overruns.Add(1)
		v.log.Warn("route: notification overrun, dumping again")
		if ok, _ := v.resubscribe(); !ok {
			return false
		}
		v.want(0, true)
	case errors.As(err, &oe) && oe.Timeout():
	default:
		return v.replaceBroken(err, backoff)
	}
	return true
}

// replaceBroken waits (backing off while the socket stays broken),
// replaces the notification socket and schedules a full dump to stay
// correct. It reports false when the view is closing.
func (v *View) replaceBroken(err error, backoff *time.Duration) bool {
	v.receiveErrors.Add(1)
	v.setFailing(err)
	v.log.Error("route: receive", "err", err, "retry_in", *backoff)
	select {
	case <-v.done:
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(2**backoff, maxReceiveBackoff)
	ok, rerr := v.resubscribe()
	if !ok {
		return false
	}
	if rerr != nil {
		v.setFailing(rerr)
		return true
	}
	v.pend.full = true
	v.pend.due = time.Now()
	return true
}

// apply applies a batch of notifications to the tables, notes what must
// be read again, and reports what changed (the zero ViewEvent: nothing).
func (v *View) apply(msgs []netlink.Message) ViewEvent {
	var changed ViewEvent
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			var rm rtnetlink.RouteMessage
			if err := rm.UnmarshalBinary(m.Data); err != nil {
				v.decodeErrors.Add(1)
				continue
			}
			r, ok := decodeRoute(&rm)
			if !ok {
				continue
			}
			t := v.tables[r.Table]
			if t == nil {
				continue
			}
			changed.Routes = true
			if m.Header.Type == unix.RTM_DELROUTE {
				t.Delete(r)
				continue
			}
			pos := appendPos
			switch {
			case m.Header.Flags&netlink.Replace != 0:
				// Which route a replace took the place of is not
				// always the one the rules say (IPv6 with equal
				// routes): apply it, then read the table again.
				pos = replacePos
				v.want(0, true)
			case rm.Family == unix.AF_INET && m.Header.Flags&netlink.Append == 0:
				pos = prependPos
			}
			// IPv6 keeps two identical routes after a replace.
			t.insert(r, pos, pos != replacePos || rm.Family == unix.AF_INET)
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			var lm rtnetlink.LinkMessage
			if err := lm.UnmarshalBinary(m.Data); err != nil {
				v.decodeErrors.Add(1)
				v.want(0, true)
				continue
			}
			if v.linkChanged(m.Header.Type, &lm) {
				changed.Links = true
			}
		case unix.RTM_NEWNETCONF, unix.RTM_DELNETCONF:
			v.netconfChanged(m.Data)
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			var am rtnetlink.AddressMessage
			if err := am.UnmarshalBinary(m.Data); err != nil {
				v.decodeErrors.Add(1)
				continue
			}
			a, ok := decodeAddr(&am)
			if !ok {
				continue
			}
			changed.Addresses = true
			for _, t := range v.tables {
				if l, ok := t.links[a.Interface.Index]; ok {
					a.Interface.Name = l.Name
				}
				if m.Header.Type == unix.RTM_NEWADDR {
					t.AddAddress(a)
				} else {
					t.DeleteAddress(a)
				}
			}
			if m.Header.Type == unix.RTM_DELADDR {
				// The kernel flushes the IPv4 routes that used the address
				// as source, and those of the link when it was its last
				// one, and IPv6 forgets the preferred source, all without
				// a route notification.
				v.want(a.Interface.Index, false)
				for _, t := range v.tables {
					t.interfacesOfSource(a.Prefix.Addr(), v.pend.dirty)
				}
			}
		}
	}
	return changed
}

// linkChanged applies a link notification under v.mu and schedules a
// refresh of the link's routes when it changes what routing sees: admin
// state, carrier, name (routes carry it), appearance. Other attributes
// (statistics, MTU, operstate alone...) change no route.
func (v *View) linkChanged(typ netlink.HeaderType, lm *rtnetlink.LinkMessage) bool {
	if v.cfg.redumpEveryHint {
		v.want(0, true)
		return false
	}
	idx := int(lm.Index)
	if typ == unix.RTM_DELLINK {
		// The kernel removes every route through a deleted link, the
		// IPv4 ones without notification.
		for _, t := range v.tables {
			t.DeleteLink(idx)
			t.deleteInterface(idx)
		}
		return true
	}
	l := decodeLink(lm)
	old, known := v.first.links[idx]
	if known && old == l {
		v.hintsIgnored.Add(1)
		return false
	}
	for _, t := range v.tables {
		t.SetLink(l)
	}
	if known && old.Up && l.Up && old.Name == l.Name {
		// Carrier alone: the kernel sets or clears the linkdown flag of
		// the link's routes, which the view does itself (Table.setCarrier)
		// instead of asking the kernel, whose filtered dump walks every
		// route of the namespace.
		if v.pend.carrier == nil {
			v.pend.carrier = map[int]bool{}
		}
		v.pend.carrier[idx] = true
		v.want(0, false)
		return true
	}
	v.want(idx, false)
	return true
}

// ignoreLinkdown returns the effective ignore_routes_with_linkdown of an
// interface for IPv4 (its own value or "all") and IPv6 (its own value,
// which "all" sets), read with RTM_GETNETCONF.
func (v *View) ignoreLinkdown(idx int) (v4, v6 bool, err error) {
	get := func(family uint8, ifindex int32) (bool, error) {
		ae := netlink.NewAttributeEncoder()
		ae.Int32(netconfaIfindex, ifindex)
		attrs, err := ae.Encode()
		if err != nil {
			return false, err
		}
		msgs, err := v.req.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETNETCONF, Flags: netlink.Request},
			Data:   append([]byte{family, 0, 0, 0}, attrs...),
		})
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWNETCONF || len(m.Data) < 4 {
				continue
			}
			ad, err := netlink.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				return false, err
			}
			for ad.Next() {
				if ad.Type() == netconfaIgnoreRoutesLinkdn {
					return ad.Int32() != 0, nil
				}
			}
			return false, ad.Err()
		}
		return false, fmt.Errorf("no netconf answer for if%d", ifindex)
	}
	if v4, err = get(unix.AF_INET, int32(idx)); err != nil {
		return false, false, wrapErr("netconf", err)
	}
	if !v4 {
		if v4, err = get(unix.AF_INET, -1); err != nil {
			return false, false, wrapErr("netconf", err)
		}
	}
	// No IPv6 on the interface: no IPv6 route through it either.
	v6, _ = get(unix.AF_INET6, int32(idx))
	return v4, v6, nil
}

// applyCarrier applies carrier changes to the routes of the interfaces in
// idx; an interface it cannot handle so is put in dirty (a filtered dump).
func (v *View) applyCarrier(idx, dirty map[int]bool) map[int]bool {
	for i := range idx {
		if dirty[i] {
			continue
		}
		v4, v6, err := v.ignoreLinkdown(i)
		v.mu.Lock()
		l, ok := v.first.links[i]
		if err == nil && ok && l.Up {
			for _, t := range v.tables {
				t.setCarrier(i, l.Carrier, v4, v6)
			}
		}
		v.mu.Unlock()
		if err != nil || !ok || !l.Up {
			if dirty == nil {
				dirty = map[int]bool{}
			}
			dirty[i] = true
		}
	}
	return dirty
}

// netconfChanged schedules a refresh of the routes whose reported flags a
// netconf change alters: ignore_routes_with_linkdown makes the kernel
// report RTNH_F_DEAD on the linkdown nexthops of the interface (or of
// every interface for "all" and "default").
func (v *View) netconfChanged(data []byte) {
	if v.cfg.redumpEveryHint {
		v.want(0, true)
		return
	}
	if len(data) < 4 {
		v.decodeErrors.Add(1)
		return
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		v.decodeErrors.Add(1)
		return
	}
	ifindex, linkdown := int32(0), false
	for ad.Next() {
		switch ad.Type() {
		case netconfaIfindex:
			if b := ad.Bytes(); len(b) == 4 {
				ifindex = int32(binary.NativeEndian.Uint32(b))
			}
		case netconfaIgnoreRoutesLinkdn:
			linkdown = true
		}
	}
	if ad.Err() != nil {
		v.decodeErrors.Add(1)
		return
	}
	if !linkdown {
		v.hintsIgnored.Add(1)
		return
	}
	if ifindex > 0 {
		v.want(int(ifindex), false)
		return
	}
	// "all" or "default": every link without carrier may change.
	for i, l := range v.first.links {
		if !l.Carrier {
			v.want(i, false)
		}
	}
	v.want(0, false)
}

// refresh reads again what the notifications said changed: the routes
// of the changed interfaces, or everything.
func (v *View) refresh() {
	p := &v.pend
	dirty, carrier, full := p.dirty, p.carrier, p.full
	p.dirty, p.carrier, p.full, p.due = nil, nil, false, time.Time{}
	if len(dirty) > maxTargetedInterfaces {
		full = true
	}
	start := time.Now()
	defer func() {
		p.lastEnd = time.Now()
		p.lastCost = p.lastEnd.Sub(start)
	}()
	if !full {
		dirty = v.applyCarrier(carrier, dirty)
	}
	var err error
	if full {
		err = v.dump()
		p.lastFull = time.Now()
		p.fullCost = p.lastFull.Sub(start)
	} else if len(dirty) > 0 {
		err = v.refreshInterfaces(dirty)
	}
	if err != nil {
		// Try again (everything), backing off while it keeps failing.
		p.backoff = min(max(2*p.backoff, minReceiveBackoff), maxReceiveBackoff)
		p.full, p.due = true, time.Now().Add(p.backoff)
		v.log.Error("route: refresh", "err", err, "retry_in", p.backoff)
		v.setFailing(err)
		return
	}
	p.backoff = 0
	v.refreshes.Add(1)
	v.setFailing(nil)
	v.notify(ViewEvent{Routes: true, Links: full, Addresses: full})
}

// refreshInterfaces reads the routes through each interface in idx (a
// dump filtered by output interface) and puts them in the tables.
func (v *View) refreshInterfaces(idx map[int]bool) error {
	var krs []Route
	for i := range idx {
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			rm := rtnetlink.RouteMessage{Family: fam, Attributes: rtnetlink.RouteAttributes{OutIface: uint32(i)}}
			b, err := rm.MarshalBinary()
			if err != nil {
				return wrapErr("dump routes", err)
			}
			msgs, err := v.dumpOn(v.filt, unix.RTM_GETROUTE, b)
			if errors.Is(err, unix.ENODEV) {
				break // gone: none of its routes remain
			}
			if err != nil {
				return wrapErr(fmt.Sprintf("dump routes of if%d", i), err)
			}
			krs = slices.AppendSeq(krs, routesIn(msgs))
		}
	}
	byTable := map[uint32][]Route{}
	for _, r := range krs {
		byTable[r.Table] = append(byTable[r.Table], r)
	}
	v.mu.Lock()
	for id, t := range v.tables {
		t.syncInterfaces(idx, byTable[id])
	}
	v.mu.Unlock()
	return nil
}
