package ipmon

import (
	"encoding/binary"
	"math/bits"
)

// probeKey is a Poller's secret for probe authenticators: a random
// SipHash-2-4 key drawn when the Poller is created.
type probeKey struct{ k0, k1 uint64 }

func newProbeKey(b [16]byte) probeKey {
	return probeKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// mac returns the 8-byte authenticator of one probe: SipHash-2-4 under the
// Poller's key of (family, echo ID, slot, generation, probe number). Each
// probe carries its own, so a reply seen on the wire (or a probe sniffed)
// tells an observer nothing about the authenticator of any other probe: it
// cannot forge replies that hold a target up. It does not allocate.
func (k probeKey) mac(v6 bool, id uint16, slot, gen, prob uint32) uint64 {
	var fam uint64
	if v6 {
		fam = 6
	}
	m0 := fam | uint64(id)<<16 | uint64(slot)<<32
	m1 := uint64(gen) | uint64(prob)<<32
	return sip24(k.k0, k.k1, m0, m1)
}

// sip24 is SipHash-2-4 of the 16-byte message m0|m1 (little-endian words).
func sip24(k0, k1, m0, m1 uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	for _, m := range [3]uint64{m0, m1, 16 << 56} { // last block: length only
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
