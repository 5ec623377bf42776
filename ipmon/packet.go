package ipmon

import (
	"encoding/binary"
	"net/netip"

	"github.com/netpulse/netpulse/internal/announce"
)

// Echo packets. The payload carries everything needed to match a reply to
// its probe without a table lookup by address:
//
//	0      8      12     16     20
//	mac    | slot | gen  | probe|
//
// slot and gen name the target (gen changes when a slot is reused or a
// target re-tuned); probe is the target's 32-bit probe number, whose low 16
// bits are the ICMP sequence; mac authenticates them, per probe (probeKey.mac),
// so that no reply can be forged without the Poller's secret key.
const (
	icmpHeaderLen = 8
	payloadLen    = 20
	echoLen       = icmpHeaderLen + payloadLen

	icmpv4EchoRequest = 8
	icmpv4EchoReply   = 0
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

// dropReason is a decoder's verdict on a received packet (the matching
// under Poller.mu counts the other reasons in Drops directly).
type dropReason uint8

const (
	dropNone dropReason = iota
	dropForeign
	dropSpoofed
	dropMalformed
)

// echoFields are the fields of an echo reply that matter for matching.
type echoFields struct {
	id, seq         uint16
	slot, gen, prob uint32
}

// buildEcho writes an echo request into b (len >= echoLen) and returns
// echoLen. For IPv4 it fills the checksum; for IPv6 the kernel does (it
// must: the checksum covers a pseudo-header with the source address).
func buildEcho(b []byte, v6 bool, id uint16, key *probeKey, f echoFields) int {
	_ = b[echoLen-1]
	if v6 {
		b[0] = icmpv6EchoRequest
	} else {
		b[0] = icmpv4EchoRequest
	}
	b[1] = 0
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], uint16(f.prob))
	binary.BigEndian.PutUint64(b[8:], key.mac(v6, id, f.slot, f.gen, f.prob))
	binary.BigEndian.PutUint32(b[16:], f.slot)
	binary.BigEndian.PutUint32(b[20:], f.gen)
	binary.BigEndian.PutUint32(b[24:], f.prob)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], announce.Checksum(b[:echoLen]))
	}
	return echoLen
}

// stripIPv4 returns the ICMP message and source address inside an IPv4
// packet as a raw socket delivers it, or dropMalformed.
func stripIPv4(b []byte) ([]byte, netip.Addr, dropReason) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, netip.Addr{}, dropMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl || total < ihl || total > len(b) || b[9] != 1 {
		return nil, netip.Addr{}, dropMalformed
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
		// A fragment: the kernel reassembles before raw delivery, so this
		// is not a packet we can trust.
		return nil, netip.Addr{}, dropMalformed
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	return b[ihl:total], src, dropNone
}

// parseEcho validates an ICMP (v6 false) or ICMPv6 echo reply against the
// poller's echo ID and the probe's authenticator. It does not look at the
// target: that is the caller's part (source, slot, sequence). checkID is
// false for datagram sockets, where the kernel matched the ID already.
func parseEcho(b []byte, v6 bool, id uint16, checkID bool, key *probeKey) (echoFields, dropReason) {
	var f echoFields
	if len(b) < icmpHeaderLen {
		return f, dropMalformed
	}
	want := byte(icmpv4EchoReply)
	if v6 {
		want = icmpv6EchoReply
	}
	if b[0] != want || b[1] != 0 {
		return f, dropMalformed
	}
	if !v6 && announce.Checksum(b) != 0 {
		return f, dropMalformed
	}
	f.id = binary.BigEndian.Uint16(b[4:])
	f.seq = binary.BigEndian.Uint16(b[6:])
	if checkID && f.id != id {
		return f, dropForeign
	}
	if len(b) != echoLen {
		return f, dropSpoofed
	}
	f.slot = binary.BigEndian.Uint32(b[16:])
	f.gen = binary.BigEndian.Uint32(b[20:])
	f.prob = binary.BigEndian.Uint32(b[24:])
	if uint16(f.prob) != f.seq {
		return f, dropSpoofed
	}
	// The echo ID the probe carried: with checkID false (datagram socket)
	// the reply's own, which the kernel matched to the socket.
	if binary.BigEndian.Uint64(b[8:]) != key.mac(v6, f.id, f.slot, f.gen, f.prob) {
		return f, dropSpoofed
	}
	return f, dropNone
}
