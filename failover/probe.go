package failover

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
)

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
