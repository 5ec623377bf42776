package failover

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
)

// ARPProbe returns the 28-byte ARP body of an RFC 5227 probe for addr from
// mac: a request with sender protocol address 0.0.0.0, so that no
// neighbour learns anything from it.
func ARPProbe(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1)
	copy(b[8:14], mac)
	a4 := addr.As4()
	copy(b[24:28], a4[:])
	return b
}

// arpClaim returns the sender hardware address of an ARP packet (request
// or reply) whose sender protocol address is addr: a host that uses addr.
func arpClaim(b []byte, addr netip.Addr) (net.HardwareAddr, bool) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return nil, false
	}
	a4 := addr.As4()
	if !bytes.Equal(b[14:18], a4[:]) {
		return nil, false
	}
	return net.HardwareAddr(bytes.Clone(b[8:14])), true
}

// solicitedNode returns the solicited-node multicast address of addr and
// its Ethernet multicast address.
func solicitedNode(addr netip.Addr) (netip.Addr, net.HardwareAddr) {
	a := addr.As16()
	g := [16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
	return netip.AddrFrom16(g), net.HardwareAddr{0x33, 0x33, 0xff, a[13], a[14], a[15]}
}

// DADProbe returns the IPv6 packet (header included) of a duplicate
// address detection neighbour solicitation for addr: source ::,
// destination addr's solicited-node group, hop limit 255, no source
// link-layer address option (RFC 4862 5.4.2).
func DADProbe(addr netip.Addr) []byte {
	dst, _ := solicitedNode(addr)
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
	binary.BigEndian.PutUint16(icmp[2:], icmp6Checksum(b[8:24], b[24:40], icmp))
	return b
}

func icmp6Checksum(src, dst, body []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:], uint32(len(body)))
	l[7] = 58
	add(l[:])
	add(body)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// naClaim parses an IPv6 packet (header included) and, if it is a
// neighbour advertisement for addr, returns the advertised hardware
// address (its target link-layer address option, else from, the frame's
// source).
func naClaim(b []byte, addr netip.Addr, from net.HardwareAddr) (net.HardwareAddr, bool) {
	if len(b) < 40+24 || b[0]>>4 != 6 || b[6] != 58 {
		return nil, false
	}
	icmp := b[40:]
	if icmp[0] != 136 {
		return nil, false
	}
	t := addr.As16()
	if !bytes.Equal(icmp[8:24], t[:]) {
		return nil, false
	}
	for o := icmp[24:]; len(o) >= 8 && o[1] > 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == 2 && o[1] == 1 {
			return net.HardwareAddr(bytes.Clone(o[2:8])), true
		}
	}
	return from, true
}
