package ipmon

import (
	"bytes"
	"context"
	"encoding/binary"
	"github.com/netpulse/netpulse"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBFDCodecRoundTrip(t *testing.T) {
	in := bfdPacket{
		diag: BFDDiagNeighborSignaledDown, state: BFDStateInit, poll: true, detectMult: 5,
		myDiscr: 0x01020304, yourDiscr: 0xa0b0c0d0, desiredMinTx: 10 * time.Millisecond,
		requiredMinRx: 20 * time.Millisecond, requiredMinEchoRx: 0,
	}
	var b [bfdHeaderLen]byte
	require.Equal(t, bfdHeaderLen, encodeBFD(b[:], &in))
	require.Equal(t, []byte{0x23, 0xa0, 5, 24, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0, 0, 0x27, 0x10, 0, 0, 0x4e, 0x20, 0, 0, 0, 0}, b[:])
	var out bfdPacket
	require.Equal(t, bfdDropNone, decodeBFD(b[:], &out))
	in.length = bfdHeaderLen
	require.Equal(t, in, out)

	bad := func(mut func(b []byte) []byte) bfdDrop {
		c := append([]byte(nil), b[:]...)
		var pk bfdPacket
		return decodeBFD(mut(c), &pk)
	}
	for name, tc := range map[string]struct {
		mut  func(b []byte) []byte
		want bfdDrop
	}{
		"short":          {func(b []byte) []byte { return b[:23] }, bfdDropMalformed},
		"version 0":      {func(b []byte) []byte { b[0] &= 0x1f; return b }, bfdDropMalformed},
		"length 23":      {func(b []byte) []byte { b[3] = 23; return b }, bfdDropMalformed},
		"length > udp":   {func(b []byte) []byte { b[3] = 25; return b }, bfdDropMalformed},
		"detect mult 0":  {func(b []byte) []byte { b[2] = 0; return b }, bfdDropMalformed},
		"multipoint":     {func(b []byte) []byte { b[1] |= bfdFlagMultipoint; return b }, bfdDropMalformed},
		"my discr 0":     {func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }, bfdDropMalformed},
		"auth, 24 bytes": {func(b []byte) []byte { b[1] |= bfdFlagAuth; return b }, bfdDropMalformed},
		"auth":           {func(b []byte) []byte { b[1] |= bfdFlagAuth; b[3] = 26; return append(b, 1, 2) }, bfdDropAuth},
		"trailing bytes": {func(b []byte) []byte { return append(b, 9, 9) }, bfdDropNone},
	} {
		require.Equal(t, tc.want, bad(tc.mut), name)
	}
}

// FuzzDecodeBFD: the decoder never panics, and what it accepts encodes back
// to the same mandatory section (the length aside).
func FuzzDecodeBFD(f *testing.F) {
	var b [bfdHeaderLen]byte
	encodeBFD(b[:], &bfdPacket{state: BFDStateUp, detectMult: 3, myDiscr: 7, yourDiscr: 9, desiredMinTx: time.Second, requiredMinRx: time.Millisecond})
	f.Add(b[:])
	f.Add(b[:10])
	f.Add(append(b[:], 0, 0))
	f.Add([]byte{0x20, 0x44, 3, 26, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		var pk bfdPacket
		if decodeBFD(in, &pk) != bfdDropNone {
			return
		}
		if pk.myDiscr == 0 || pk.detectMult == 0 || pk.multipoint || pk.auth || int(pk.length) > len(in) || pk.length < bfdHeaderLen {
			t.Fatalf("accepted %x: %+v", in, pk)
		}
		var out [bfdHeaderLen]byte
		encodeBFD(out[:], &pk)
		want := append([]byte(nil), in[:bfdHeaderLen]...)
		want[1] &^= bfdFlagDemand
		want[3] = bfdHeaderLen
		if !bytes.Equal(out[:], want) {
			t.Fatalf("re-encoded %x, want %x", out, want)
		}
	})
}

func fixedJitter(v float64) func() float64 { return func() float64 { return v } }

func cfg10ms(mult uint8) bfdConfig {
	return bfdConfig{desiredMinTx: 10 * time.Millisecond, requiredMinRx: 10 * time.Millisecond, detectMult: mult}
}

// TestBFDReceptionTable checks every transition of RFC 5880 6.8.6 (and the
// AdminDown discard) from each local state for each received state.
func TestBFDReceptionTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type row struct {
		local, rx BFDState
		want      BFDState
		diag      BFDDiag
	}
	rows := []row{
		{BFDStateDown, BFDStateAdminDown, BFDStateDown, BFDDiagNone},
		{BFDStateDown, BFDStateDown, BFDStateInit, BFDDiagNone},
		{BFDStateDown, BFDStateInit, BFDStateUp, BFDDiagNone},
		{BFDStateDown, BFDStateUp, BFDStateDown, BFDDiagNone},
		{BFDStateInit, BFDStateAdminDown, BFDStateDown, BFDDiagNeighborSignaledDown},
		{BFDStateInit, BFDStateDown, BFDStateInit, BFDDiagNone},
		{BFDStateInit, BFDStateInit, BFDStateUp, BFDDiagNone},
		{BFDStateInit, BFDStateUp, BFDStateUp, BFDDiagNone},
		{BFDStateUp, BFDStateAdminDown, BFDStateDown, BFDDiagNeighborSignaledDown},
		{BFDStateUp, BFDStateDown, BFDStateDown, BFDDiagNeighborSignaledDown},
		{BFDStateUp, BFDStateInit, BFDStateUp, BFDDiagNone},
		{BFDStateUp, BFDStateUp, BFDStateUp, BFDDiagNone},
		{BFDStateAdminDown, BFDStateDown, BFDStateAdminDown, BFDDiagAdminDown},
		{BFDStateAdminDown, BFDStateUp, BFDStateAdminDown, BFDDiagAdminDown},
	}
	for _, r := range rows {
		s := newBFDSession(cfg10ms(3), 11, fixedJitter(0.5), t0)
		// Bring the session to the local state through real transitions.
		switch r.local {
		case BFDStateInit:
			s.receive(&bfdPacket{state: BFDStateDown, detectMult: 3, myDiscr: 22, desiredMinTx: time.Second, requiredMinRx: time.Second}, t0)
		case BFDStateUp:
			s.receive(&bfdPacket{state: BFDStateInit, detectMult: 3, myDiscr: 22, yourDiscr: 11, desiredMinTx: time.Second, requiredMinRx: time.Second}, t0)
		case BFDStateAdminDown:
			s.adminDown()
		}
		require.Equal(t, r.local, s.state, "setup %v", r)
		yd := uint32(11)
		pk := bfdPacket{state: r.rx, detectMult: 3, myDiscr: 22, yourDiscr: yd, desiredMinTx: time.Second, requiredMinRx: time.Second}
		changed, drop := s.receive(&pk, t0.Add(time.Millisecond))
		require.Equal(t, bfdDropNone, drop, "%v", r)
		require.Equal(t, r.want, s.state, "%v <- %v", r.local, r.rx)
		require.Equal(t, r.diag, s.localDiag, "%v <- %v", r.local, r.rx)
		require.Equal(t, r.want != r.local, changed)
		require.Equal(t, uint32(22), s.remoteDiscr)
	}

	// Your Discriminator 0 is only valid from a Down or AdminDown peer.
	s := newBFDSession(cfg10ms(3), 11, fixedJitter(0.5), t0)
	_, drop := s.receive(&bfdPacket{state: BFDStateUp, detectMult: 3, myDiscr: 22}, t0)
	require.Equal(t, bfdDropStateDiscr0, drop)
	_, drop = s.receive(&bfdPacket{state: BFDStateDown, detectMult: 3, myDiscr: 22, yourDiscr: 99}, t0)
	require.Equal(t, bfdDropUnknown, drop)
	require.Equal(t, BFDStateDown, s.state)
}

// TestBFDDetectionExpiry: an Up session silent for the detection time goes
// Down with diag 1 and forgets the remote discriminator; not a moment
// before.
func TestBFDDetectionExpiry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := newBFDSession(cfg10ms(3), 11, fixedJitter(0.5), t0)
	s.receive(&bfdPacket{state: BFDStateInit, detectMult: 4, myDiscr: 22, yourDiscr: 11, desiredMinTx: 25 * time.Millisecond, requiredMinRx: 10 * time.Millisecond}, t0)
	require.Equal(t, BFDStateUp, s.state)
	// Remote mult 4 x max(our 10 ms, remote's 25 ms).
	require.Equal(t, 100*time.Millisecond, s.detectTime())
	require.False(t, s.expire(t0.Add(100*time.Millisecond-time.Nanosecond)))
	require.True(t, s.expire(t0.Add(100*time.Millisecond)))
	require.Equal(t, BFDStateDown, s.state)
	require.Equal(t, BFDDiagControlDetectionExpired, s.localDiag)
	require.Zero(t, s.remoteDiscr)
	require.Equal(t, time.Second, s.advTx, "back to the slow rate while not Up")
}

// TestBFDJitter: gaps are 75-100% of the interval, at most 90% with Detect
// Mult 1.
func TestBFDJitter(t *testing.T) {
	s := newBFDSession(cfg10ms(3), 1, nil, time.Time{})
	for _, tc := range []struct {
		j    float64
		mult uint8
		want time.Duration
	}{{0, 3, 750 * time.Microsecond}, {0.999999, 3, 999999 * time.Nanosecond}, {0, 1, 750 * time.Microsecond}, {0.999999, 1, 899999 * time.Nanosecond}} {
		s.cfg.detectMult = tc.mult
		s.jitter = fixedJitter(tc.j)
		require.InDelta(t, float64(tc.want), float64(s.jittered(time.Millisecond)), 2, "%+v", tc)
	}
}

// simEnd is one end of a simulated link in simulated time.
type simEnd struct {
	s       *bfdSession
	sent    int
	lastTx  time.Time
	gaps    []time.Duration
	changes []BFDState
}

type simPkt struct {
	at  time.Time
	to  int
	pkt bfdPacket
}

// simLink runs two sessions joined by a link with one-way delay, in the
// synctest bubble's simulated time, until until. While cut, packets are
// lost. hook runs before each step.
type simLink struct {
	ends   [2]*simEnd
	delay  time.Duration
	cut    bool
	flight []simPkt
}

func (l *simLink) run(t *testing.T, until time.Time, stop func() bool) {
	t.Helper()
	for steps := 0; steps < 1_000_000; steps++ {
		now := time.Now()
		if !now.Before(until) || (stop != nil && stop()) {
			return
		}
		// Deliver what arrived.
		keep := l.flight[:0]
		for _, f := range l.flight {
			if f.at.After(now) {
				keep = append(keep, f)
				continue
			}
			e := l.ends[f.to]
			before := e.s.state
			e.s.receive(&f.pkt, now)
			if e.s.state != before {
				e.changes = append(e.changes, e.s.state)
			}
		}
		l.flight = keep
		next := until
		for i, e := range l.ends {
			before := e.s.state
			e.s.expire(now)
			if e.s.txDue(now) {
				var pk bfdPacket
				e.s.build(&pk, now)
				if !e.lastTx.IsZero() && !pk.final {
					e.gaps = append(e.gaps, now.Sub(e.lastTx))
				}
				e.lastTx = now
				e.sent++
				if !l.cut {
					l.flight = append(l.flight, simPkt{at: now.Add(l.delay), to: 1 - i, pkt: pk})
				}
			}
			if e.s.state != before {
				e.changes = append(e.changes, e.s.state)
			}
			if d := e.s.due(); !d.IsZero() && d.Before(next) {
				next = d
			}
		}
		for _, f := range l.flight {
			if f.at.Before(next) {
				next = f.at
			}
		}
		if next.After(now) {
			time.Sleep(next.Sub(now))
		}
	}
	t.Fatal("simulation did not end")
}

// TestBFDSessionsSimulated runs two ends (one passive) through a whole
// life in simulated time: up through the three-way handshake at the 1 s
// slow rate, the Poll Sequence to 10 ms on both sides, detection of a cut
// link at the remote's Detect Mult x the agreed interval, recovery, and a
// timer change by Poll/Final.
func TestBFDSessionsSimulated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		a := &simEnd{s: newBFDSession(cfg10ms(3), 0xa, fixedJitter(0.5), start)}
		pcfg := cfg10ms(5)
		pcfg.passive = true
		pcfg.desiredMinTx = 20 * time.Millisecond
		b := &simEnd{s: newBFDSession(pcfg, 0xb, fixedJitter(0.5), start)}
		l := &simLink{ends: [2]*simEnd{a, b}, delay: 100 * time.Microsecond}

		bothUp := func() bool {
			return a.s.state == BFDStateUp && b.s.state == BFDStateUp && !a.s.polling && !b.s.polling
		}
		l.run(t, start.Add(10*time.Second), bothUp)
		require.True(t, bothUp())
		require.Equal(t, []BFDState{BFDStateUp}, a.changes, "the active end hears Init while Down: Up at once")
		require.Equal(t, []BFDState{BFDStateInit, BFDStateUp}, b.changes, "passive end went Down -> Init -> Up")
		require.Less(t, time.Since(start), 3*time.Second, "up at the slow rate in a few packets")
		// Negotiated: a sends every max(10 ms, b's 10 ms rx), b every
		// max(20, 10) = 20 ms; a detects b after b's mult 5 x max(10, 20).
		require.Equal(t, 10*time.Millisecond, a.s.txInterval())
		require.Equal(t, 20*time.Millisecond, b.s.txInterval())
		require.Equal(t, 100*time.Millisecond, a.s.detectTime())
		require.Equal(t, 30*time.Millisecond, b.s.detectTime())

		// Steady state: gaps are the jittered intervals (jitter 0.5:
		// 87.5%).
		a.gaps, b.gaps = nil, nil
		l.run(t, time.Now().Add(time.Second), nil)
		for _, g := range a.gaps {
			require.Equal(t, 8750*time.Microsecond, g)
		}
		for _, g := range b.gaps {
			require.Equal(t, 17500*time.Microsecond, g)
		}
		require.Greater(t, len(a.gaps), 100)

		// Cut: each end goes Down within its detection time of the last
		// packet it received.
		a.changes, b.changes = nil, nil
		cut := time.Now()
		l.cut = true
		l.run(t, cut.Add(time.Second), func() bool { return a.s.state == BFDStateDown && b.s.state == BFDStateDown })
		require.Equal(t, []BFDState{BFDStateDown}, a.changes)
		require.Equal(t, []BFDState{BFDStateDown}, b.changes)
		require.Equal(t, BFDDiagControlDetectionExpired, a.s.localDiag)
		require.Equal(t, BFDDiagControlDetectionExpired, b.s.localDiag)
		// Detection of the last of them: at most the detection time after
		// the cut, at least that minus one remote interval.
		el := time.Since(cut)
		require.LessOrEqual(t, el, 100*time.Millisecond+l.delay)
		require.Greater(t, el, 100*time.Millisecond-20*time.Millisecond)

		// Back: Up again (the passive end answers a's slow packets).
		l.cut = false
		l.run(t, time.Now().Add(10*time.Second), bothUp)
		require.True(t, bothUp())
		require.Equal(t, BFDDiagNone, a.s.localDiag)

		// Poll/Final: a slows its transmit interval to 50 ms. The new
		// value is advertised with P at once, but a keeps sending at 10 ms
		// until b's F arrives.
		now := time.Now()
		a.s.retune(bfdConfig{desiredMinTx: 50 * time.Millisecond, requiredMinRx: 10 * time.Millisecond, detectMult: 3}, now)
		require.True(t, a.s.polling)
		require.Equal(t, 10*time.Millisecond, a.s.txInterval(), "an increase waits for the Final")
		var pk bfdPacket
		l.run(t, now.Add(time.Second), func() bool { return !a.s.polling })
		require.False(t, a.s.polling)
		require.Equal(t, 50*time.Millisecond, a.s.txInterval())
		// b's detection time follows a's advertised 50 ms at once.
		require.Equal(t, 150*time.Millisecond, b.s.detectTime())
		a.s.build(&pk, time.Now())
		require.False(t, pk.poll)
		require.False(t, pk.final)

		// A required receive interval lowered: the detection time keeps
		// the old one until the Final.
		now = time.Now()
		b.s.retune(bfdConfig{desiredMinTx: 20 * time.Millisecond, requiredMinRx: 5 * time.Millisecond, detectMult: 5, passive: true}, now)
		require.True(t, b.s.polling)
		require.Equal(t, 150*time.Millisecond, b.s.detectTime())
		l.run(t, now.Add(time.Second), func() bool { return !b.s.polling })
		require.Equal(t, 5*time.Millisecond, b.s.useRx)

		// AdminDown: b goes Down with neighbor-signaled-session-down.
		a.changes, b.changes = nil, nil
		a.s.adminDown()
		l.run(t, time.Now().Add(time.Second), func() bool { return b.s.state == BFDStateDown })
		require.Equal(t, BFDStateDown, b.s.state)
		require.Equal(t, BFDDiagNeighborSignaledDown, b.s.localDiag)
	})
}

// TestBFDPassiveSilent: a passive session sends nothing until it hears its
// peer.
func TestBFDPassiveSilent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := cfg10ms(3)
	c.passive = true
	s := newBFDSession(c, 1, fixedJitter(0), t0)
	require.False(t, s.txDue(t0.Add(time.Hour)))
	s.receive(&bfdPacket{state: BFDStateDown, detectMult: 3, myDiscr: 2, desiredMinTx: time.Second, requiredMinRx: time.Second}, t0)
	require.True(t, s.txDue(t0.Add(time.Second)))
	var pk bfdPacket
	s.build(&pk, t0.Add(time.Second))
	require.Equal(t, BFDStateInit, pk.state)
	require.Equal(t, uint32(2), pk.yourDiscr)
	require.Equal(t, time.Second, pk.desiredMinTx, "at least 1 s while not Up")
	require.Equal(t, 10*time.Millisecond, pk.requiredMinRx)
	var b [bfdHeaderLen]byte
	encodeBFD(b[:], &pk)
	require.Equal(t, uint32(1_000_000), binary.BigEndian.Uint32(b[12:]))
}

// bfdFake is a fake transport that carries BFD packets to a peer Poller
// after a delay, while the link is not cut.
type bfdFake struct {
	*fakeTransport
	self  netip.Addr
	peer  *Poller
	cut   atomic.Bool
	delay time.Duration
}

func (f *bfdFake) sendBFD(tg *target, pkt []byte) error {
	if f.cut.Load() || f.peer == nil {
		return nil
	}
	rx := bfdRx{iface: tg.t.Interface, ifindex: tg.ifindex, src: f.self, ttl: bfdTTL, data: append([]byte(nil), pkt...)}
	peer := f.peer
	go func() {
		time.Sleep(f.delay)
		peer.deliverBFD([]bfdRx{rx})
	}()
	return nil
}

// TestBFDPollerSimulated runs two Pollers over a fake link in simulated
// time: their BFD targets come Up (alive verdict), a cut is seen within the
// detection time with control-detection-time-expired, the link back brings
// them Up, and removing the passive end's target sends AdminDown (the other
// goes Down with neighbor-signaled-session-down). A peer that never
// answers is Unverified after (Detect Mult + 1) x 1 s.
func TestBFDPollerSimulated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodeA, srvA := netip.MustParseAddr("198.18.41.2"), netip.MustParseAddr("198.18.41.1")
		mk := func(self netip.Addr) (*Poller, *bfdFake) {
			c, err := (&Config{}).withDefaults()
			require.NoError(t, err)
			f := &bfdFake{fakeTransport: newFake(), self: self, delay: 100 * time.Microsecond}
			p, err := newPoller(c, f)
			require.NoError(t, err)
			p.bfd.jitter = fixedJitter(0.5)
			return p, f
		}
		node, nf := mk(nodeA)
		srv, sf := mk(srvA)
		nf.peer, sf.peer = srv, node
		defer func() {
			node.Close()
			srv.Close()
			time.Sleep(time.Millisecond) // the fake's packets in flight
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := node.Subscribe(ctx)
		require.NoError(t, node.Add(Target{Interface: "eth2", Addr: srvA, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}))
		require.NoError(t, srv.Add(Target{Interface: "eth2", Addr: nodeA, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3, Passive: true}))
		silent := netip.MustParseAddr("198.18.41.99")
		require.NoError(t, node.Add(Target{Interface: "eth3", Addr: silent, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}))

		waitBFD := func(addr netip.Addr, want BFDState) *TargetEvent {
			t.Helper()
			for {
				ev := next[*TargetEvent](t, ch)
				if ev.Target.Addr == addr && ev.BFD.State == want {
					return ev
				}
			}
		}
		start := time.Now()
		ev := waitBFD(srvA, BFDStateUp)
		require.Equal(t, TargetUp, ev.State)
		require.Less(t, time.Since(start), 3*time.Second)
		// Wait for the Poll Sequence to the fast timers.
		for i := 0; i < 100; i++ {
			if st := node.Snapshot().Targets[0].BFD; st.TxInterval == 10*time.Millisecond && !st.Polling {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		st := node.Snapshot()
		require.Equal(t, srvA, st.Targets[0].Target.Addr)
		require.Equal(t, 10*time.Millisecond, st.Targets[0].BFD.TxInterval)
		require.Equal(t, 30*time.Millisecond, st.Targets[0].BFD.DetectionTime)
		require.Equal(t, netpulse.VerdictAlive, st.Interfaces[0].Verdict)

		time.Sleep(time.Second)
		nf.cut.Store(true)
		sf.cut.Store(true)
		cut := time.Now()
		ev = waitBFD(srvA, BFDStateDown)
		require.Equal(t, TargetDown, ev.State)
		require.Equal(t, BFDDiagControlDetectionExpired, ev.BFD.Diag)
		require.LessOrEqual(t, time.Since(cut), 30*time.Millisecond+sf.delay, "detection time: remote mult x agreed interval")
		require.Greater(t, time.Since(cut), 20*time.Millisecond)

		nf.cut.Store(false)
		sf.cut.Store(false)
		ev = waitBFD(srvA, BFDStateUp)
		require.Equal(t, TargetUp, ev.State)

		// Update slows the node's session to 50 ms x 4 through a Poll
		// Sequence: both ends follow, the session stays Up.
		require.NoError(t, node.Update(Target{Interface: "eth2", Addr: srvA, Kind: ProbeBFD, Interval: 50 * time.Millisecond, FailAfter: 4}))
		settled := func() bool {
			n, s := node.Snapshot().Targets[0], srv.Snapshot().Targets[0]
			return !n.BFD.Polling && n.BFD.TxInterval == 50*time.Millisecond && s.BFD.DetectionTime == 200*time.Millisecond
		}
		for i := 0; i < 100 && !settled(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		require.True(t, settled(), "node %+v srv %+v", node.Snapshot().Targets[0].BFD, srv.Snapshot().Targets[0].BFD)
		require.Equal(t, TargetUp, node.Snapshot().Targets[0].State)
		require.Equal(t, BFDStateUp, srv.Snapshot().Targets[0].BFD.State)

		require.NoError(t, srv.Remove(Target{Interface: "eth2", Addr: nodeA, Kind: ProbeBFD}))
		ev = waitBFD(srvA, BFDStateDown)
		require.Equal(t, TargetDown, ev.State)
		require.Equal(t, BFDDiagNeighborSignaledDown, ev.BFD.Diag)
		require.Equal(t, BFDStateAdminDown, ev.BFD.RemoteState)

		time.Sleep(time.Until(start.Add(5 * time.Second)))
		st = node.Snapshot()
		require.Equal(t, silent, st.Targets[1].Target.Addr)
		require.Equal(t, TargetUnverified, st.Targets[1].State)
		require.Equal(t, 4*time.Second, st.Targets[1].LastChange.Sub(start))
		require.Equal(t, BFDStateDown, st.Targets[1].BFD.State)
		require.NotZero(t, st.BFD.Received)
		require.Zero(t, st.BFD.Malformed+st.BFD.Unknown+st.BFD.WrongInterface)

	})
}
