package ipmon

import (
	"encoding/binary"
	"time"
)

// This file holds the BFD control packet codec (RFC 5880 section 4.1): no
// syscalls, no allocation.

// BFD UDP ports (RFC 5881 section 4): control packets go to port 3784, from
// a source port in 49152-65535.
const (
	bfdControlPort = 3784
	bfdSrcPortMin  = 49152
	bfdSrcPortMax  = 65535
	// bfdTTL is the TTL (IPv4) or hop limit (IPv6) sent and required on
	// receipt (GTSM, RFC 5881 section 5).
	bfdTTL = 255
	// bfdHeaderLen is the mandatory section's length; an authentication
	// section would follow it.
	bfdHeaderLen = 24
	bfdVersion   = 1
)

// BFDState is a BFD session state (RFC 5880 section 4.1, the State field).
type BFDState uint8

// The session states, with their wire values.
const (
	// BFDStateAdminDown: the session is held down administratively (the local
	// end was closed, or the peer says so).
	BFDStateAdminDown BFDState = 0
	// BFDStateDown: the session is down or just created.
	BFDStateDown BFDState = 1
	// BFDStateInit: the remote end is heard, the three-way handshake is not
	// complete.
	BFDStateInit BFDState = 2
	// BFDStateUp: the session is up: the path works both ways.
	BFDStateUp BFDState = 3
)

// BFDDiag is a BFD diagnostic code (RFC 5880 section 4.1): why the local
// end last left Up.
type BFDDiag uint8

// The diagnostic codes of RFC 5880, with their wire values.
const (
	BFDDiagNone                        BFDDiag = 0
	BFDDiagControlDetectionExpired     BFDDiag = 1
	BFDDiagEchoFailed                  BFDDiag = 2
	BFDDiagNeighborSignaledDown        BFDDiag = 3
	BFDDiagForwardingPlaneReset        BFDDiag = 4
	BFDDiagPathDown                    BFDDiag = 5
	BFDDiagConcatenatedPathDown        BFDDiag = 6
	BFDDiagAdminDown                   BFDDiag = 7
	BFDDiagReverseConcatenatedPathDown BFDDiag = 8
)

var bfdDiagNames = [...]string{
	"none", "control-detection-time-expired", "echo-failed",
	"neighbor-signaled-session-down", "forwarding-plane-reset", "path-down",
	"concatenated-path-down", "admin-down", "reverse-concatenated-path-down",
}

// Flag bits of the second byte.
const (
	bfdFlagPoll          = 0x20
	bfdFlagFinal         = 0x10
	bfdFlagControlIndep  = 0x08
	bfdFlagAuth          = 0x04
	bfdFlagDemand        = 0x02
	bfdFlagMultipoint    = 0x01
	bfdMaxIntervalMicros = 1<<32 - 1
)

// bfdPacket is a decoded control packet (the mandatory section).
type bfdPacket struct {
	diag               BFDDiag
	state              BFDState
	poll, final        bool
	controlIndep       bool
	auth, demand       bool
	multipoint         bool
	detectMult         uint8
	myDiscr, yourDiscr uint32
	desiredMinTx       time.Duration // microsecond resolution on the wire
	requiredMinRx      time.Duration
	requiredMinEchoRx  time.Duration
	length             uint8
}

// bfdDrop says why a received packet was discarded.
type bfdDrop uint8

const (
	bfdDropNone bfdDrop = iota
	bfdDropMalformed
	bfdDropAuth        // authentication present: not implemented
	bfdDropUnknown     // no session for the discriminator or peer
	bfdDropTTL         // TTL / hop limit below 255 (GTSM)
	bfdDropWrongIface  // arrived on another interface than its session's
	bfdDropStateDiscr0 // Your Discriminator 0 while the sender is not Down/AdminDown
)

// decodeBFD decodes b into pk and checks the rules of RFC 5880 section
// 6.8.6 that need no session: version 1, length at least 24 (26 with
// authentication) and no more than the datagram, Detect Mult not zero, no
// Multipoint, My Discriminator not zero.
func decodeBFD(b []byte, pk *bfdPacket) bfdDrop {
	if len(b) < bfdHeaderLen {
		return bfdDropMalformed
	}
	if b[0]>>5 != bfdVersion {
		return bfdDropMalformed
	}
	l := int(b[3])
	f := b[1]
	minLen := bfdHeaderLen
	if f&bfdFlagAuth != 0 {
		minLen = bfdHeaderLen + 2
	}
	if l < minLen || l > len(b) {
		return bfdDropMalformed
	}
	*pk = bfdPacket{
		diag:              BFDDiag(b[0] & 0x1f),
		state:             BFDState(f >> 6),
		poll:              f&bfdFlagPoll != 0,
		final:             f&bfdFlagFinal != 0,
		controlIndep:      f&bfdFlagControlIndep != 0,
		auth:              f&bfdFlagAuth != 0,
		demand:            f&bfdFlagDemand != 0,
		multipoint:        f&bfdFlagMultipoint != 0,
		detectMult:        b[2],
		length:            b[3],
		myDiscr:           binary.BigEndian.Uint32(b[4:]),
		yourDiscr:         binary.BigEndian.Uint32(b[8:]),
		desiredMinTx:      time.Duration(binary.BigEndian.Uint32(b[12:])) * time.Microsecond,
		requiredMinRx:     time.Duration(binary.BigEndian.Uint32(b[16:])) * time.Microsecond,
		requiredMinEchoRx: time.Duration(binary.BigEndian.Uint32(b[20:])) * time.Microsecond,
	}
	if pk.detectMult == 0 || pk.multipoint || pk.myDiscr == 0 {
		return bfdDropMalformed
	}
	if pk.auth {
		// Authentication is not implemented: such a session is refused
		// (RFC 5880 6.8.6: A set and no authentication in use: discard).
		return bfdDropAuth
	}
	return bfdDropNone
}

// micros converts d to the wire's microseconds, saturating.
func micros(d time.Duration) uint32 {
	us := d / time.Microsecond
	if us < 0 {
		return 0
	}
	if us > bfdMaxIntervalMicros {
		return bfdMaxIntervalMicros
	}
	return uint32(us)
}

// encodeBFD writes pk's mandatory section into b (at least 24 bytes) and
// returns its length. Auth, Demand and Multipoint are never set.
func encodeBFD(b []byte, pk *bfdPacket) int {
	_ = b[bfdHeaderLen-1]
	b[0] = bfdVersion<<5 | byte(pk.diag&0x1f)
	f := byte(pk.state&3) << 6
	if pk.poll {
		f |= bfdFlagPoll
	}
	if pk.final {
		f |= bfdFlagFinal
	}
	if pk.controlIndep {
		f |= bfdFlagControlIndep
	}
	b[1] = f
	b[2] = pk.detectMult
	b[3] = bfdHeaderLen
	binary.BigEndian.PutUint32(b[4:], pk.myDiscr)
	binary.BigEndian.PutUint32(b[8:], pk.yourDiscr)
	binary.BigEndian.PutUint32(b[12:], micros(pk.desiredMinTx))
	binary.BigEndian.PutUint32(b[16:], micros(pk.requiredMinRx))
	binary.BigEndian.PutUint32(b[20:], micros(pk.requiredMinEchoRx))
	return bfdHeaderLen
}
