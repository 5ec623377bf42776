package ipmon

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"net/netip"
	"time"
)

// This file ties BFD sessions (bfd_session.go) into the Poller: they share
// its scheduler heap, its lock, its events and its verdicts; no goroutine
// per session.

// BFDCounters counts BFD control packets over every session.
type BFDCounters struct {
	// Sent counts control packets sent, SendErrors those the kernel
	// refused, Received those accepted by a session.
	Sent, SendErrors, Received uint64
	// Malformed: bad version, length, Detect Mult, Multipoint or My
	// Discriminator 0 (RFC 5880 6.8.6). Auth: the Authentication bit set
	// (not implemented). Unknown: no session for the discriminator, or
	// for the source address on that interface. TTL: TTL or hop limit
	// below 255 (GTSM; the kernel drops most of these first). WrongInterface:
	// the discriminator names a session of another interface or peer.
	// Discr0: Your Discriminator 0 from a peer that is not Down.
	Malformed, Auth, Unknown, TTL, WrongInterface, Discr0 uint64
}

// bfdTable is the Poller's BFD bookkeeping, used under Poller.mu.
type bfdTable struct {
	byDiscr map[uint32]*target
	n       BFDCounters
	// jitter is the jitter source of new sessions (tests fix it).
	jitter func() float64
}

// bfdTarget is a BFD target's session and the Poller's part of it.
type bfdTarget struct {
	s *bfdSession
	// unverifiedAt is when a session that never came Up is reported
	// Unverified (zero once done or once Up).
	unverifiedAt time.Time
	pkt          [bfdHeaderLen]byte
}

// bfdTransport is what a transport offers for BFD: sending one control
// packet for a target prepared by attach. Called with Poller.mu held.
type bfdTransport interface {
	sendBFD(tg *target, pkt []byte) error
}

// bfdRx is a received BFD control packet handed to Poller.deliverBFD.
type bfdRx struct {
	iface   string // the interface of the socket it arrived on
	ifindex int
	src     netip.Addr // zone-less
	ttl     int        // TTL or hop limit, -1 if unknown
	data    []byte
	// malformed: truncated or unreadable.
	malformed bool
}

// bfdAdminDownCopies is how many AdminDown packets a closed or removed
// session sends, back to back, so that one lost packet does not leave the
// peer to time out.
const bfdAdminDownCopies = 3

func bfdConfigOf(t Target) bfdConfig {
	return bfdConfig{
		desiredMinTx:  t.Interval,
		requiredMinRx: t.Interval,
		detectMult:    uint8(t.FailAfter),
		passive:       t.Passive,
	}
}

// newDiscr returns a random local discriminator, not 0 and not in use.
func (p *Poller) newDiscr() uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		d := binary.BigEndian.Uint32(b[:])
		if d != 0 && p.bfd.byDiscr[d] == nil {
			return d
		}
	}
}

// addBFD creates tg's session. Called by Add with Poller.mu held, before
// tg is pushed on the heap.
func (p *Poller) addBFD(tg *target, now time.Time) {
	if p.bfd.byDiscr == nil {
		p.bfd.byDiscr = make(map[uint32]*target)
	}
	jitter := p.bfd.jitter
	if jitter == nil {
		jitter = mrand.Float64
	}
	d := p.newDiscr()
	// The first packet goes within a jittered fraction of 1 s (the slow
	// rate), so that many sessions added at once do not send in a burst.
	first := now.Add(time.Duration(jitter() * float64(bfdSlowTx) / 4))
	tg.bfd = &bfdTarget{
		s:            newBFDSession(bfdConfigOf(tg.t), d, jitter, first),
		unverifiedAt: now.Add(time.Duration(tg.t.FailAfter+1) * bfdSlowTx),
	}
	p.bfd.byDiscr[d] = tg
	tg.due = tg.bfd.due(now)
}

func (b *bfdTarget) due(now time.Time) time.Time {
	d := b.s.due()
	if !b.unverifiedAt.IsZero() && (d.IsZero() || b.unverifiedAt.Before(d)) {
		d = b.unverifiedAt
	}
	if d.IsZero() {
		// Nothing to do until a packet arrives (a passive session).
		d = now.Add(time.Hour)
	}
	return d
}

// targetState maps the session onto the target states: Up while Up, Down
// once it left Up, Unverified if it never came Up in time, else Unknown.
func (b *bfdTarget) targetState(prev TargetState) TargetState {
	switch {
	case b.s.state == BFDStateUp:
		return TargetUp
	case b.s.everUp:
		return TargetDown
	case b.unverifiedAt.IsZero():
		return TargetUnverified
	}
	return prev
}

// fireBFD runs tg's session at now: detection time, the unverified
// deadline, a packet due. It returns how long until tg is due if it is not
// due yet (0 if it was handled). Called with Poller.mu held.
func (p *Poller) fireBFD(tg *target, now time.Time) time.Duration {
	b := tg.bfd
	if tg.due.After(now) {
		return tg.due.Sub(now)
	}
	prevBFD := b.s.state
	b.s.expire(now)
	if !b.unverifiedAt.IsZero() && !now.Before(b.unverifiedAt) {
		b.unverifiedAt = time.Time{}
	}
	if b.s.txDue(now) {
		p.sendBFD(tg, now)
	}
	p.bfdSettle(tg, prevBFD, now)
	return 0
}

// sendBFD builds and sends tg's next packet.
func (p *Poller) sendBFD(tg *target, now time.Time) {
	var pk bfdPacket
	tg.bfd.s.build(&pk, now)
	p.sendBFDPacket(tg, &pk)
}

func (p *Poller) sendBFDPacket(tg *target, pk *bfdPacket) {
	n := encodeBFD(tg.bfd.pkt[:], pk)
	bt, ok := p.tr.(bfdTransport)
	tg.sent++
	p.bfd.n.Sent++
	if !ok {
		p.bfd.n.SendErrors++
		return
	}
	if err := bt.sendBFD(tg, tg.bfd.pkt[:n]); err != nil {
		p.bfd.n.SendErrors++
	}
}

// bfdSettle publishes what changed since the session was in state prevBFD
// and puts tg back in the heap at its next deadline.
func (p *Poller) bfdSettle(tg *target, prevBFD BFDState, now time.Time) {
	b := tg.bfd
	if b.s.state == BFDStateUp {
		b.unverifiedAt = time.Time{}
	}
	prev := tg.state
	st := b.targetState(prev)
	if st != prev {
		tg.state, tg.lastChange = st, now
		p.changed(tg, prev, now)
	} else if b.s.state != prevBFD {
		p.hub.Publish(p.targetEvent(tg, prev, now))
	}
	due := b.due(now)
	if due.Before(tg.due) {
		// Sooner than the scheduler may sleep (a Final owed, a faster
		// rate): wake it.
		p.kick()
	}
	tg.due = due
	p.heap.fix(tg)
}

// deliverBFD handles received BFD packets under one hold of the lock.
// Called by the transport without Poller.mu.
func (p *Poller) deliverBFD(pks []bfdRx) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for i := range pks {
		p.deliverBFDLocked(&pks[i], now)
	}
}

func (p *Poller) deliverBFDLocked(rx *bfdRx, now time.Time) {
	c := &p.bfd.n
	if rx.malformed {
		c.Malformed++
		return
	}
	if rx.ttl >= 0 && rx.ttl != bfdTTL {
		c.TTL++
		return
	}
	var pk bfdPacket
	switch decodeBFD(rx.data, &pk) {
	case bfdDropNone:
	case bfdDropAuth:
		c.Auth++
		return
	default:
		c.Malformed++
		return
	}
	var tg *target
	if pk.yourDiscr != 0 {
		tg = p.bfd.byDiscr[pk.yourDiscr]
		if tg == nil {
			c.Unknown++
			return
		}
		if tg.t.Interface != rx.iface || tg.t.Addr != rx.src {
			c.WrongInterface++
			return
		}
	} else {
		tg = p.targets[key{rx.iface, rx.src, ProbeBFD}]
		if tg == nil || tg.bfd == nil {
			c.Unknown++
			return
		}
	}
	b := tg.bfd
	prevBFD := b.s.state
	if _, drop := b.s.receive(&pk, now); drop != bfdDropNone {
		if drop == bfdDropStateDiscr0 {
			c.Discr0++
		} else {
			c.Unknown++
		}
		return
	}
	c.Received++
	tg.received++
	tg.lastReply = now
	p.bfdSettle(tg, prevBFD, now)
}

// updateBFD applies a retuned target to its session. Called by Update with
// Poller.mu held.
func (p *Poller) updateBFD(tg *target, now time.Time) {
	prev := tg.bfd.s.state
	tg.bfd.s.retune(bfdConfigOf(tg.t), now)
	p.bfdSettle(tg, prev, now)
}

// adminDownBFD puts tg's session in AdminDown and tells the peer, before
// the target is removed or the Poller closed. Called with Poller.mu held.
func (p *Poller) adminDownBFD(tg *target) {
	b := tg.bfd
	b.s.adminDown()
	if b.s.remoteDiscr == 0 && b.s.cfg.passive {
		// A passive end never heard from has nothing to tell.
		delete(p.bfd.byDiscr, b.s.localDiscr)
		return
	}
	var pk bfdPacket
	now := time.Now()
	for range bfdAdminDownCopies {
		b.s.build(&pk, now)
		p.sendBFDPacket(tg, &pk)
	}
	delete(p.bfd.byDiscr, b.s.localDiscr)
}

// closeBFD sends AdminDown for every session. Called by Close after the
// scheduler stopped and before the sockets close.
func (p *Poller) closeBFD() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tg := range p.targets {
		if tg.bfd != nil {
			p.adminDownBFD(tg)
		}
	}
}

// bfdStatus returns tg's session status, zero for other kinds.
func (tg *target) bfdStatus() BFDStatus {
	if tg.bfd == nil {
		return BFDStatus{}
	}
	return tg.bfd.s.status()
}
