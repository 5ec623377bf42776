package failover

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
)

// ARPAnnouncement returns the 28-byte ARP body of a gratuitous ARP request
// announcing addr at mac.
func ARPAnnouncement(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)      // hardware type: Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // protocol type: IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:14], mac)
	a4 := addr.As4()
	copy(b[14:18], a4[:])
	copy(b[24:28], a4[:])
	return b
}

// NeighborAdvertisement returns the ICMPv6 body (checksum left zero for
// the kernel) of an unsolicited neighbour advertisement of addr at mac with
// the override flag and the target link-layer address option.
func NeighborAdvertisement(mac net.HardwareAddr, addr netip.Addr) []byte {
	b := make([]byte, 32)
	b[0] = byte(ipv6.ICMPTypeNeighborAdvertisement)
	b[4] = 0x20 // override; not solicited, not router
	a16 := addr.As16()
	copy(b[8:24], a16[:])
	b[24], b[25] = 2, 1 // target link-layer address, 8 bytes
	copy(b[26:32], mac)
	return b
}
