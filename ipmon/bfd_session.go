package ipmon

import (
	"time"
)

// This file holds the pure BFD session: the state machine of RFC 5880
// (sections 6.2, 6.8.1-6.8.7 and 6.8.16), the timer negotiation and the
// Poll/Final sequence. No syscalls; time is passed in, the jitter source is
// injected.

// bfdSlowTx is the least transmit interval advertised while the session is
// not Up (RFC 5880 6.8.3).
const bfdSlowTx = time.Second

// bfdConfig is what the application chose for one session.
type bfdConfig struct {
	desiredMinTx  time.Duration // sent once Up
	requiredMinRx time.Duration
	detectMult    uint8
	passive       bool
}

// bfdSession is one BFD session (the bfd.* variables of RFC 5880 6.8.1 and
// the timers).
type bfdSession struct {
	cfg bfdConfig

	state, remoteState      BFDState
	localDiscr, remoteDiscr uint32
	localDiag, remoteDiag   BFDDiag
	remoteMinRx             time.Duration // bfd.RemoteMinRxInterval
	remoteDesiredTx         time.Duration
	remoteMult              uint8

	// advTx and advRx are the values sent (bfd.DesiredMinTxInterval and
	// bfd.RequiredMinRxInterval); useTx and useRx the ones in effect for
	// the transmit interval and the detection time: an increase of the
	// transmit interval, or a decrease of the required receive interval,
	// takes effect only when the Poll Sequence that announced it ends
	// (6.8.3).
	advTx, advRx time.Duration
	useTx, useRx time.Duration
	polling      bool // a Poll Sequence is in progress: P set
	sendFinal    bool // a Poll was received: answer F at once

	// nextTx is when the next periodic packet is due (zero: none), detect
	// when the detection time expires (zero: not armed).
	nextTx, detect time.Time
	// everUp: the session was Up at least once since it was created.
	everUp bool

	// jitter returns a fraction in [0, 1) (math/rand in production, fixed
	// in tests).
	jitter func() float64
}

// newBFDSession returns a session in state Down with the local
// discriminator discr (not 0), its first packet due at first (zero: at
// once, passive sessions wait for the peer).
func newBFDSession(cfg bfdConfig, discr uint32, jitter func() float64, first time.Time) *bfdSession {
	s := &bfdSession{
		cfg:         cfg,
		state:       BFDStateDown,
		remoteState: BFDStateDown,
		localDiscr:  discr,
		remoteMinRx: time.Microsecond, // initial value of RFC 5880 6.8.1
		jitter:      jitter,
	}
	s.advTx = max(cfg.desiredMinTx, bfdSlowTx)
	s.advRx = cfg.requiredMinRx
	s.useTx, s.useRx = s.advTx, s.advRx
	if !cfg.passive {
		s.nextTx = first
	}
	return s
}

// txInterval returns the transmit interval before jitter: the larger of the
// local desired interval in effect and the remote's required one.
func (s *bfdSession) txInterval() time.Duration {
	return max(s.useTx, s.remoteMinRx)
}

// rxInterval returns the agreed receive interval: the larger of the local
// required interval in effect and the remote's desired one.
func (s *bfdSession) rxInterval() time.Duration {
	return max(s.useRx, s.remoteDesiredTx)
}

// detectTime returns the detection time in asynchronous mode: the remote's
// Detect Mult times the agreed receive interval (6.8.4).
func (s *bfdSession) detectTime() time.Duration {
	return time.Duration(s.remoteMult) * s.rxInterval()
}

// periodic reports whether periodic packets are sent now (6.8.7): not to a
// peer that asked for none (RemoteMinRxInterval 0), and not from a passive
// end that has not heard its peer.
func (s *bfdSession) periodic() bool {
	if s.remoteMinRx == 0 {
		return false
	}
	if s.cfg.passive && s.remoteDiscr == 0 {
		return false
	}
	return true
}

// jittered returns the next gap: 75-100% of the interval, at most 90% when
// the local Detect Mult is 1 (6.8.7).
func (s *bfdSession) jittered(d time.Duration) time.Duration {
	top := 0.25
	if s.cfg.detectMult == 1 {
		top = 0.15
	}
	return time.Duration(float64(d) * (0.75 + top*s.jitter()))
}

// due returns when the session needs attention: the next packet (at once if
// a Final is owed) or the detection time.
func (s *bfdSession) due() time.Time {
	d := s.detect
	if !s.nextTx.IsZero() && (d.IsZero() || s.nextTx.Before(d)) {
		d = s.nextTx
	}
	return d
}

// expire applies the detection timer at now (6.8.4, 6.8.1): an Init or Up
// session goes Down with diag 1; in any state the remote discriminator is
// forgotten. It reports whether the state changed.
func (s *bfdSession) expire(now time.Time) bool {
	if s.detect.IsZero() || now.Before(s.detect) {
		return false
	}
	s.detect = time.Time{}
	s.remoteDiscr = 0
	if s.state == BFDStateInit || s.state == BFDStateUp {
		s.goDown(BFDDiagControlDetectionExpired, now)
		return true
	}
	return false
}

// goDown moves to Down with diag: the slow transmit interval again, and no
// Poll Sequence (timers change freely while not Up).
func (s *bfdSession) goDown(diag BFDDiag, now time.Time) {
	s.state = BFDStateDown
	s.localDiag = diag
	s.polling = false
	s.advTx = max(s.cfg.desiredMinTx, bfdSlowTx)
	s.advRx = s.cfg.requiredMinRx
	s.useTx, s.useRx = s.advTx, s.advRx
	s.reschedule(now)
}

// goUp moves to Up: the configured (fast) intervals are announced with a
// Poll Sequence; a decrease of the transmit interval applies at once, an
// increase when the Final arrives.
func (s *bfdSession) goUp(now time.Time) {
	s.state = BFDStateUp
	s.localDiag = BFDDiagNone
	s.everUp = true
	s.setTimers(s.cfg.desiredMinTx, s.cfg.requiredMinRx, now)
}

// setTimers changes the advertised intervals. While Up a change starts a
// Poll Sequence (6.8.3): a faster transmit interval and a longer required
// receive interval take effect at once, the others when the Final
// arrives.
func (s *bfdSession) setTimers(tx, rx time.Duration, now time.Time) {
	if s.state != BFDStateUp {
		s.advTx, s.advRx = max(tx, bfdSlowTx), rx
		s.useTx, s.useRx = s.advTx, s.advRx
		return
	}
	if tx == s.advTx && rx == s.advRx {
		return
	}
	s.advTx, s.advRx = tx, rx
	if tx < s.useTx {
		s.useTx = tx
	}
	if rx > s.useRx {
		s.useRx = rx
	}
	s.polling = true
	s.reschedule(now)
}

// retune applies a new configuration (same identity).
func (s *bfdSession) retune(cfg bfdConfig, now time.Time) {
	wasPassive := s.cfg.passive
	s.cfg = cfg
	// setTimers itself tells Up (a Poll Sequence) from the other states.
	s.setTimers(cfg.desiredMinTx, cfg.requiredMinRx, now)
	if wasPassive && !cfg.passive && s.nextTx.IsZero() {
		s.nextTx = now
	}
}

// reschedule re-arms the transmit timer so that a shorter interval applies
// now rather than after the current (possibly 1 s) gap.
func (s *bfdSession) reschedule(now time.Time) {
	if !s.periodic() {
		s.nextTx = time.Time{}
		return
	}
	next := now.Add(s.jittered(s.txInterval()))
	if s.nextTx.IsZero() || next.Before(s.nextTx) {
		s.nextTx = next
	}
}

// receive applies a decoded packet, already matched to this session, that
// arrived at now (6.8.6 from "Set bfd.RemoteDiscr" on). It returns whether
// the session state changed, and drop != bfdDropNone if the packet was
// discarded.
func (s *bfdSession) receive(pk *bfdPacket, now time.Time) (changed bool, drop bfdDrop) {
	if pk.yourDiscr == 0 && pk.state != BFDStateDown && pk.state != BFDStateAdminDown {
		return false, bfdDropStateDiscr0
	}
	if pk.yourDiscr != 0 && pk.yourDiscr != s.localDiscr {
		return false, bfdDropUnknown
	}
	wasPeriodic := s.periodic()
	s.remoteDiscr = pk.myDiscr
	s.remoteState = pk.state
	s.remoteDiag = pk.diag
	s.remoteMult = pk.detectMult
	oldTx := s.txInterval()
	s.remoteMinRx = pk.requiredMinRx
	s.remoteDesiredTx = pk.desiredMinTx
	if pk.final && s.polling {
		s.polling = false
		s.useTx, s.useRx = s.advTx, s.advRx
	}
	if s.state == BFDStateAdminDown {
		return false, bfdDropNone
	}
	old := s.state
	if pk.state == BFDStateAdminDown {
		if s.state != BFDStateDown {
			s.goDown(BFDDiagNeighborSignaledDown, now)
		}
	} else {
		switch s.state {
		case BFDStateDown:
			switch pk.state {
			case BFDStateDown:
				s.state = BFDStateInit
			case BFDStateInit:
				s.goUp(now)
			}
		case BFDStateInit:
			if pk.state == BFDStateInit || pk.state == BFDStateUp {
				s.goUp(now)
			}
		case BFDStateUp:
			if pk.state == BFDStateDown {
				s.goDown(BFDDiagNeighborSignaledDown, now)
			}
		}
	}
	if pk.poll {
		s.sendFinal = true
		s.nextTx = now
	}
	// The packet counts for the detection time (6.8.4).
	s.detect = now.Add(s.detectTime())
	if !wasPeriodic || s.txInterval() < oldTx {
		s.reschedule(now)
	}
	return s.state != old, bfdDropNone
}

// txDue reports whether a packet should be sent at now.
func (s *bfdSession) txDue(now time.Time) bool {
	return !s.nextTx.IsZero() && !now.Before(s.nextTx)
}

// build fills pk with the packet to send now (6.8.7) and schedules the
// next periodic one. A Final answers a Poll once; P is set while a Poll
// Sequence is in progress (never together with F).
func (s *bfdSession) build(pk *bfdPacket, now time.Time) {
	*pk = bfdPacket{
		diag:          s.localDiag,
		state:         s.state,
		detectMult:    s.cfg.detectMult,
		myDiscr:       s.localDiscr,
		yourDiscr:     s.remoteDiscr,
		desiredMinTx:  s.advTx,
		requiredMinRx: s.advRx,
	}
	if s.sendFinal {
		pk.final = true
		s.sendFinal = false
	} else if s.polling {
		pk.poll = true
	}
	if s.periodic() {
		s.nextTx = now.Add(s.jittered(s.txInterval()))
	} else {
		s.nextTx = time.Time{}
	}
}

// adminDown puts the session in AdminDown with diag 7 (6.8.16): the
// packets sent from then on tell the peer to take its end down cleanly.
func (s *bfdSession) adminDown() {
	s.state = BFDStateAdminDown
	s.localDiag = BFDDiagAdminDown
	s.polling, s.sendFinal = false, false
	s.detect = time.Time{}
}

// status returns the session's state for events and snapshots.
func (s *bfdSession) status() BFDStatus {
	st := BFDStatus{
		State:            s.state,
		Diag:             s.localDiag,
		RemoteState:      s.remoteState,
		RemoteDiag:       s.remoteDiag,
		LocalDiscr:       s.localDiscr,
		RemoteDiscr:      s.remoteDiscr,
		Multiplier:       int(s.cfg.detectMult),
		RemoteMultiplier: int(s.remoteMult),
		TxInterval:       s.txInterval(),
		RxInterval:       s.rxInterval(),
		DetectionTime:    s.detectTime(),
		Polling:          s.polling,
		Passive:          s.cfg.passive,
	}
	return st
}

// BFDStatus is a BFD session's state: the session state and diagnostic of
// both ends, the discriminators and the negotiated timers. It is set in the
// events and statistics of BFD targets only.
type BFDStatus struct {
	// State is the local session state, Diag the local diagnostic (why the
	// session last left Up, or admin-down once closed).
	State BFDState
	Diag  BFDDiag
	// RemoteState and RemoteDiag are the peer's, from its last packet.
	RemoteState BFDState
	RemoteDiag  BFDDiag
	// LocalDiscr and RemoteDiscr are the discriminators (RemoteDiscr is 0
	// while the peer is not heard).
	LocalDiscr, RemoteDiscr uint32
	// Multiplier is the local Detect Mult, RemoteMultiplier the peer's (0
	// until heard).
	Multiplier, RemoteMultiplier int
	// TxInterval is the negotiated transmit interval (before the 75-100%
	// jitter): the larger of the local desired and the peer's required
	// interval. RxInterval is the agreed receive interval: the larger of
	// the local required and the peer's desired interval. While the session
	// is not Up the local desired interval is at least 1 s (RFC 5880).
	TxInterval, RxInterval time.Duration
	// DetectionTime is RemoteMultiplier x RxInterval: how long the peer may
	// be silent before the session goes down.
	DetectionTime time.Duration
	// Polling: a Poll Sequence (timer change) is in progress.
	Polling bool
	// Passive: the session waits for the peer's first packet.
	Passive bool
}
