package ipmon

import (
	"encoding/binary"
	"testing"
)

// TestSipHashVector checks sip24 against the reference test vector of the
// SipHash paper's implementation (key 00..0f, message 00..0f).
func TestSipHashVector(t *testing.T) {
	var k, m [16]byte
	for i := range k {
		k[i], m[i] = byte(i), byte(i)
	}
	got := sip24(binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:]),
		binary.LittleEndian.Uint64(m[:8]), binary.LittleEndian.Uint64(m[8:]))
	// vectors.h, vectors_sip64[16]: db 9b c2 57 7f cc 2a 3f.
	want := binary.LittleEndian.Uint64([]byte{0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f})
	if got != want {
		t.Fatalf("sip24 = %016x, want %016x", got, want)
	}
}

// TestProbeMACPerProbe: the authenticator differs with every input field
// and with the key, so one seen probe does not give away another's.
func TestProbeMACPerProbe(t *testing.T) {
	k := newProbeKey([16]byte{1, 2, 3})
	base := k.mac(false, 7, 1, 2, 3)
	for name, m := range map[string]uint64{
		"family": k.mac(true, 7, 1, 2, 3),
		"id":     k.mac(false, 8, 1, 2, 3),
		"slot":   k.mac(false, 7, 2, 2, 3),
		"gen":    k.mac(false, 7, 1, 3, 3),
		"probe":  k.mac(false, 7, 1, 2, 4),
		"key":    newProbeKey([16]byte{1, 2, 4}).mac(false, 7, 1, 2, 3),
	} {
		if m == base {
			t.Errorf("changing the %s leaves the MAC unchanged", name)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = k.mac(false, 7, 1, 2, 3) }); a != 0 {
		t.Errorf("mac allocates %v times", a)
	}
}
