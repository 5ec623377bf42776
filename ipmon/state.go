package ipmon

import (
	"math"
	"time"
)

// This file holds the pure per-target logic: the ring of probes in flight,
// the miss/reply state machine and the statistics. No syscalls; time is
// passed in.

// Probe slot states.
const (
	slotFree uint8 = iota
	slotPending
	slotAnswered
	slotMissed
	slotAbandoned // dropped by Update: neither a miss nor a reply
)

type probeSlot struct {
	n        uint32 // probe number
	state    uint8
	sent     time.Time // monotonic reading inside
	sentWall int64     // wall clock ns, to compare with kernel timestamps
	deadline time.Time
}

// Outcome of a received reply for the tracker.
type replyResult int

const (
	replyAccepted replyResult = iota
	replyLate
	replyDuplicate
	replyNeverSent
)

// tracker is one target's probe bookkeeping and state machine.
type tracker struct {
	t Target

	state      TargetState
	lastChange time.Time
	answered   bool // answered at least once since added

	misses, replies int // consecutive

	next   uint32 // number of the next probe to send
	oldest uint32 // oldest probe not resolved yet
	ring   []probeSlot
	mask   uint32
	// lastReplied is the highest probe number answered; a miss of an
	// older probe (timeout > interval) does not break a run of replies.
	lastReplied    uint32
	anyReplied     bool
	nextSend       time.Time
	sent, received uint64

	lastRTT, minRTT, maxRTT time.Duration
	sumRTT, sumSqRTT        float64 // in ns, for avg and mdev
	lastReply               time.Time
	otherIngress            uint64
	localSendErrors         uint64

	// loss window: bit i set = probe lost.
	window     []uint64
	windowSize int
	windowLen  int
	windowPos  int
	windowLost int
}

func newTracker(t Target, lossWindow int, now time.Time) *tracker {
	tr := &tracker{t: t, lastChange: now, windowSize: lossWindow}
	tr.window = make([]uint64, (lossWindow+63)/64)
	tr.resizeRing()
	return tr
}

// resizeRing sizes the ring for the probes that can be in flight at once
// (Timeout/Interval + 2, rounded up to a power of two). Probes in flight
// are abandoned.
func (tr *tracker) resizeRing() {
	need := int(tr.t.Timeout/tr.t.Interval) + 2
	size := 4
	for size < need {
		size <<= 1
	}
	tr.ring = make([]probeSlot, size)
	tr.mask = uint32(size - 1)
	tr.oldest = tr.next
}

// retune applies new timings (same identity). Probes in flight are
// abandoned: their replies count as late, their timeouts as nothing.
func (tr *tracker) retune(t Target) {
	old := tr.t
	tr.t = t
	if old.Interval != t.Interval || old.Timeout != t.Timeout {
		tr.resizeRing()
	}
}

// deadline returns the earliest time the tracker needs attention: the next
// send or the oldest pending probe's timeout.
func (tr *tracker) deadline() time.Time {
	d := tr.nextSend
	if tr.oldest != tr.next {
		if s := &tr.ring[tr.oldest&tr.mask]; s.state == slotPending && s.deadline.Before(d) {
			d = s.deadline
		}
	}
	return d
}

// sendSlot reserves the next probe number and records it as sent at now.
func (tr *tracker) sendSlot(now time.Time, wall int64) uint32 {
	n := tr.next
	s := &tr.ring[n&tr.mask]
	if s.state == slotPending && s.n != n {
		// The ring is sized so this cannot happen; resolve the old one as
		// a miss rather than lose track of it.
		tr.resolve(s, false, now)
	}
	*s = probeSlot{n: n, state: slotPending, sent: now, sentWall: wall, deadline: now.Add(tr.t.Timeout)}
	tr.next++
	tr.sent++
	return n
}

// expire resolves pending probes whose deadline passed as misses. It reports
// whether the state changed.
func (tr *tracker) expire(now time.Time) (changed bool, prev TargetState) {
	prev = tr.state
	for tr.oldest != tr.next {
		s := &tr.ring[tr.oldest&tr.mask]
		if s.n != tr.oldest {
			tr.oldest++
			continue
		}
		if s.state == slotPending {
			if now.Before(s.deadline) {
				break
			}
			if tr.resolve(s, false, now) {
				changed = true
			}
		}
		tr.oldest++
	}
	return changed, prev
}

// reply records a reply to probe n that arrived at rx (monotonic) with the
// given kernel-timestamp RTT (0: none). It reports the result and whether
// the state changed.
func (tr *tracker) reply(n uint32, rx time.Time, kernelRTT time.Duration) (res replyResult, changed bool) {
	if n-tr.oldest >= tr.next-tr.oldest { // outside [oldest, next)
		if int32(n-tr.next) >= 0 {
			return replyNeverSent, false
		}
		// Older than every probe still tracked: resolved already. Look at
		// the slot in case it is still in the ring.
		s := &tr.ring[n&tr.mask]
		if s.n == n && s.state == slotAnswered {
			return replyDuplicate, false
		}
		return replyLate, false
	}
	s := &tr.ring[n&tr.mask]
	if s.n != n {
		return replyLate, false
	}
	switch s.state {
	case slotAnswered:
		return replyDuplicate, false
	case slotMissed, slotAbandoned, slotFree:
		return replyLate, false
	}
	rtt := rx.Sub(s.sent)
	// Kernel receive timestamps exclude our own scheduling delay; trust one
	// only if it is consistent with the monotonic measurement (the wall
	// clock may have jumped).
	if kernelRTT > 0 && kernelRTT <= rtt {
		rtt = kernelRTT
	}
	if rtt > tr.t.Timeout {
		// Arrived after its deadline, before the timer ran: a miss.
		return replyLate, false
	}
	tr.lastRTT = rtt
	tr.lastReply = rx
	if tr.received == 0 || rtt < tr.minRTT {
		tr.minRTT = rtt
	}
	if rtt > tr.maxRTT {
		tr.maxRTT = rtt
	}
	tr.received++
	f := float64(rtt)
	tr.sumRTT += f
	tr.sumSqRTT += f * f
	if !tr.anyReplied || int32(n-tr.lastReplied) > 0 {
		tr.lastReplied, tr.anyReplied = n, true
	}
	changed = tr.resolve(s, true, rx)
	return replyAccepted, changed
}

// sentWall returns the wall-clock send time of probe n, or 0.
func (tr *tracker) sentWall(n uint32) int64 {
	s := &tr.ring[n&tr.mask]
	if s.n != n || s.state != slotPending {
		return 0
	}
	return s.sentWall
}

// resolve settles slot s as answered or missed, updates the loss window and
// runs the state machine. It reports whether the state changed.
func (tr *tracker) resolve(s *probeSlot, ok bool, now time.Time) bool {
	if ok {
		s.state = slotAnswered
	} else {
		s.state = slotMissed
	}
	tr.pushWindow(!ok)
	if !ok && tr.anyReplied && int32(s.n-tr.lastReplied) < 0 {
		// A newer probe was answered already: this loss does not start or
		// extend a run of misses.
		return false
	}
	return tr.step(ok, now)
}

// step is the state machine. Rules:
//   - a reply resets the miss run; a miss resets the reply run;
//   - from Unknown or Unverified one reply makes the target Up (nothing was
//     declared down, so there is nothing to debounce); from Down it takes
//     RecoverAfter consecutive replies;
//   - FailAfter consecutive misses make an Up target Down, and an Unknown
//     one Down if it ever answered since it was added, else Unverified.
func (tr *tracker) step(ok bool, now time.Time) bool {
	old := tr.state
	if ok {
		tr.misses = 0
		tr.replies++
		tr.answered = true
		switch tr.state {
		case TargetUnknown, TargetUnverified:
			tr.state = TargetUp
		case TargetDown:
			if tr.replies >= tr.t.RecoverAfter {
				tr.state = TargetUp
			}
		}
	} else {
		tr.replies = 0
		tr.misses++
		if tr.misses >= tr.t.FailAfter {
			switch tr.state {
			case TargetUp:
				tr.state = TargetDown
			case TargetUnknown:
				if tr.answered {
					tr.state = TargetDown
				} else {
					tr.state = TargetUnverified
				}
			}
		}
	}
	if tr.state != old {
		tr.lastChange = now
		return true
	}
	return false
}

func (tr *tracker) pushWindow(lost bool) {
	i := tr.windowPos
	w, b := i/64, uint64(1)<<(i%64)
	if tr.windowLen == tr.windowSize {
		if tr.window[w]&b != 0 {
			tr.windowLost--
		}
	} else {
		tr.windowLen++
	}
	if lost {
		tr.window[w] |= b
		tr.windowLost++
	} else {
		tr.window[w] &^= b
	}
	tr.windowPos++
	if tr.windowPos == tr.windowSize {
		tr.windowPos = 0
	}
}

func (tr *tracker) stats() TargetStats {
	st := TargetStats{
		Target:             tr.t,
		State:              tr.state,
		LastChange:         tr.lastChange,
		LastReply:          tr.lastReply,
		Sent:               tr.sent,
		Received:           tr.received,
		ConsecutiveMisses:  tr.misses,
		ConsecutiveReplies: tr.replies,
		WindowProbes:       tr.windowLen,
		WindowLost:         tr.windowLost,
		LastRTT:            tr.lastRTT,
		MinRTT:             tr.minRTT,
		MaxRTT:             tr.maxRTT,
		OtherIngress:       tr.otherIngress,
		LocalSendErrors:    tr.localSendErrors,
	}
	if tr.windowLen > 0 {
		st.Loss = float64(tr.windowLost) / float64(tr.windowLen)
	}
	if tr.received > 0 {
		n := float64(tr.received)
		avg := tr.sumRTT / n
		st.AvgRTT = time.Duration(avg)
		if v := tr.sumSqRTT/n - avg*avg; v > 0 {
			st.DevRTT = time.Duration(math.Sqrt(v))
		}
	}
	return st
}
