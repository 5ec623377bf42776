package ipmon

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/netpulse/netpulse/internal/announce"
)

var fuzzKey = newProbeKey([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})

const fuzzID = 0x4242

// ipv4Wrap puts an ICMP message in a minimal IPv4 header from 198.18.0.1.
func ipv4Wrap(icmp []byte) []byte {
	h := make([]byte, 20, 20+len(icmp))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(icmp)))
	h[8], h[9] = 64, 1
	copy(h[12:], []byte{198, 18, 0, 1})
	copy(h[16:], []byte{198, 18, 0, 2})
	return append(h, icmp...)
}

// FuzzParseEcho feeds arbitrary packets, as a raw IPv4 socket, an ICMPv6
// socket or a datagram socket delivers them, to the reply parser and
// validator. It must never panic, and must accept only what our own
// request would have produced as a reply.
func FuzzParseEcho(f *testing.F) {
	req := make([]byte, echoLen)
	buildEcho(req, false, fuzzID, &fuzzKey, echoFields{slot: 3, gen: 7, prob: 0x10002})
	good4 := echoReplyFor(req, false)
	req6 := make([]byte, echoLen)
	buildEcho(req6, true, fuzzID, &fuzzKey, echoFields{slot: 1, gen: 2, prob: 5})
	good6 := echoReplyFor(req6, true)
	f.Add(ipv4Wrap(good4), false, true)
	f.Add(good4, false, false)
	f.Add(good6, true, false)
	f.Add(good4[:10], false, false)
	f.Add(ipv4Wrap(good4[:7]), false, true)
	f.Add([]byte{0x4f, 0, 0, 0}, false, true)
	f.Add(append(bytes.Clone(good6), 0), true, false)
	f.Add([]byte{}, true, false)
	f.Fuzz(func(t *testing.T, b []byte, v6, raw bool) {
		data := b
		if raw && !v6 {
			var why dropReason
			data, _, why = stripIPv4(b)
			if why != dropNone {
				if why != dropMalformed {
					t.Fatalf("stripIPv4 reason %d", why)
				}
				return
			}
		}
		fields, why := parseEcho(data, v6, fuzzID, true, &fuzzKey)
		if why != dropNone {
			return
		}
		// Accepted: it must be exactly the reply to the request with these
		// fields.
		want := make([]byte, echoLen)
		buildEcho(want, v6, fuzzID, &fuzzKey, fields)
		want = echoReplyFor(want, v6)
		if v6 {
			// The kernel fills the ICMPv6 checksum; ignore it.
			copy(want[2:4], data[2:4])
		}
		if !bytes.Equal(want, data) {
			t.Fatalf("accepted %x, which is not the reply %x", data, want)
		}
	})
}

// FuzzParseARP: the ARP decoder never panics and decodes what it accepts
// consistently.
func FuzzParseARP(f *testing.F) {
	probe := make([]byte, announce.ARPLen)
	announce.PutARPProbe(probe, [6]byte{2, 0, 0, 0, 0, 1}, tgtA)
	f.Add(probe)
	f.Add(probe[:27])
	f.Fuzz(func(t *testing.T, b []byte) {
		a, why := parseARP(b)
		if why != dropNone {
			return
		}
		if a.op != binary.BigEndian.Uint16(b[6:]) || a.spa.As4() != [4]byte(b[14:18]) || a.tpa.As4() != [4]byte(b[24:28]) {
			t.Fatalf("decoded %+v from %x", a, b)
		}
	})
}

func TestParseEchoReasons(t *testing.T) {
	req := make([]byte, echoLen)
	buildEcho(req, false, fuzzID, &fuzzKey, echoFields{slot: 3, gen: 7, prob: 9})
	good := echoReplyFor(req, false)
	f, why := parseEcho(good, false, fuzzID, true, &fuzzKey)
	if why != dropNone || f.slot != 3 || f.gen != 7 || f.prob != 9 || f.seq != 9 {
		t.Fatalf("good reply: %+v %d", f, why)
	}
	mut := func(i int, x byte, fix bool) []byte {
		b := bytes.Clone(good)
		b[i] ^= x
		if fix {
			b[2], b[3] = 0, 0
			binary.BigEndian.PutUint16(b[2:], announce.Checksum(b))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want dropReason
	}{
		{"request, not reply", req, dropMalformed},
		{"bad checksum", mut(20, 1, false), dropMalformed},
		{"other id", mut(4, 1, true), dropForeign},
		{"wrong authenticator", mut(9, 1, true), dropSpoofed},
		{"seq does not match probe", mut(7, 1, true), dropSpoofed},
		{"short", good[:7], dropMalformed},
	} {
		if _, why := parseEcho(tc.b, false, fuzzID, true, &fuzzKey); why != tc.want {
			t.Errorf("%s: reason %d, want %d", tc.name, why, tc.want)
		}
	}
}
