// Package announce encodes the packets by which a host claims or probes for
// an address on its link: ARP (RFC 826) requests over Ethernet for IPv4 in
// the announcement and probe forms of RFC 5227, and the IPv6 neighbour
// discovery messages of RFC 4861 and RFC 4862 (unsolicited neighbour
// advertisement, duplicate address detection solicitation).
//
// ipmon's ARP prober and failover's actuator both use it, so that ARP is
// encoded once. The Put functions write into the caller's buffer and do not
// allocate (ipmon's probe path reuses one buffer per target).
package announce

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// ARPLen is the length of an ARP packet for Ethernet and IPv4.
const ARPLen = 28

// PutARPProbe writes into b (len >= ARPLen) an RFC 5227 probe for tpa from
// hardware address sha: a request with sender protocol address 0.0.0.0,
// so that no neighbour learns anything from it.
func PutARPProbe(b []byte, sha [6]byte, tpa netip.Addr) {
	_ = b[ARPLen-1]
	binary.BigEndian.PutUint16(b[0:], 1)      // hardware type: Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // protocol type: IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:14], sha[:])
	clear(b[14:24]) // sender protocol address 0.0.0.0, target hardware address zero
	a := tpa.As4()
	copy(b[24:28], a[:])
}

// PutARPAnnouncement writes into b (len >= ARPLen) a gratuitous ARP request
// announcing addr at sha (RFC 5227 announcement: a probe whose sender
// protocol address is addr too).
func PutARPAnnouncement(b []byte, sha [6]byte, addr netip.Addr) {
	PutARPProbe(b, sha, addr)
	a := addr.As4()
	copy(b[14:18], a[:])
}

// ARPProbe returns a new PutARPProbe packet from mac (6 bytes).
func ARPProbe(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, ARPLen)
	PutARPProbe(b, [6]byte(mac), addr)
	return b
}

// ARPAnnouncement returns a new PutARPAnnouncement packet from mac (6
// bytes).
func ARPAnnouncement(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, ARPLen)
	PutARPAnnouncement(b, [6]byte(mac), addr)
	return b
}

// NALen is the length of NeighborAdvertisement's message.
const NALen = 32

// NeighborAdvertisement returns the ICMPv6 message (checksum left zero for
// the kernel to fill in) of an unsolicited neighbour advertisement of addr
// at mac (6 bytes): override flag set, neither solicited nor router, with
// the target link-layer address option.
func NeighborAdvertisement(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, NALen)
	b[0] = 136  // neighbour advertisement
	b[4] = 0x20 // override
	a16 := addr.As16()
	copy(b[8:24], a16[:])
	b[24], b[25] = 2, 1 // target link-layer address, 8 bytes
	copy(b[26:32], mac)
	return b
}

// SolicitedNode returns the solicited-node multicast group of addr
// (ff02::1:ffXX:XXXX) and its Ethernet multicast address.
func SolicitedNode(addr netip.Addr) (netip.Addr, net.HardwareAddr) {
	a := addr.As16()
	g := [16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
	return netip.AddrFrom16(g), net.HardwareAddr{0x33, 0x33, 0xff, a[13], a[14], a[15]}
}

// DADProbe returns the IPv6 packet (header included, checksum computed) of
// a duplicate address detection neighbour solicitation for addr: source
// ::, destination addr's solicited-node group, hop limit 255, no source
// link-layer address option (RFC 4862 5.4.2).
func DADProbe(addr netip.Addr) []byte {
	dst, _ := SolicitedNode(addr)
	b := make([]byte, 40+24)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], 24)
	b[6], b[7] = 58, 255 // ICMPv6, hop limit
	d := dst.As16()
	copy(b[24:40], d[:])
	icmp := b[40:]
	icmp[0] = 135 // neighbour solicitation
	t := addr.As16()
	copy(icmp[8:24], t[:])
	binary.BigEndian.PutUint16(icmp[2:], ICMPv6Checksum(b[8:24], b[24:40], icmp))
	return b
}

// ICMPv6Checksum returns the checksum of an ICMPv6 message body (its
// checksum field zero) from src to dst (RFC 4443 2.3).
func ICMPv6Checksum(src, dst, body []byte) uint16 {
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:], uint32(len(body)))
	l[7] = 58
	return fold(sum(sum(sum(sum(0, src), dst), l[:]), body))
}

// Checksum returns the Internet checksum (RFC 1071) of b: ipmon's ICMP
// echo requests and replies. It does not allocate.
func Checksum(b []byte) uint16 { return fold(sum(0, b)) }

// sum adds b's 16-bit big-endian words to s, an odd last byte padded with
// zero.
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold returns the one's complement of s folded to 16 bits.
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
