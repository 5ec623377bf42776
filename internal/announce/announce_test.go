package announce

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

var mac = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}

func TestARP(t *testing.T) {
	addr := netip.MustParseAddr("198.18.10.50")
	head := []byte{0, 1, 8, 0, 6, 4, 0, 1} // Ethernet, IPv4, 6, 4, request
	zero6 := make([]byte, 6)

	p := ARPProbe(mac, addr)
	require.Len(t, p, ARPLen)
	require.Equal(t, head, p[:8])
	require.Equal(t, []byte(mac), p[8:14], "sender hardware address")
	require.Equal(t, []byte{0, 0, 0, 0}, p[14:18], "probe: sender protocol address 0.0.0.0")
	require.Equal(t, zero6, p[18:24], "target hardware address zero")
	require.Equal(t, addr.AsSlice(), p[24:28], "target protocol address")

	a := ARPAnnouncement(mac, addr)
	require.Equal(t, head, a[:8])
	require.Equal(t, []byte(mac), a[8:14])
	require.Equal(t, addr.AsSlice(), a[14:18], "announcement: sender protocol address is the address")
	require.Equal(t, zero6, a[18:24])
	require.Equal(t, addr.AsSlice(), a[24:28])

	// A reused buffer is fully rewritten.
	b := make([]byte, ARPLen)
	for i := range b {
		b[i] = 0xee
	}
	PutARPProbe(b, [6]byte(mac), addr)
	require.Equal(t, p, b)
	require.Panics(t, func() { PutARPProbe(make([]byte, ARPLen-1), [6]byte(mac), addr) }, "short buffer")
}

func TestPutAllocs(t *testing.T) {
	addr := netip.MustParseAddr("198.18.10.50")
	b := make([]byte, ARPLen)
	require.Zero(t, testing.AllocsPerRun(100, func() { PutARPProbe(b, [6]byte(mac), addr) }))
	require.Zero(t, testing.AllocsPerRun(100, func() { PutARPAnnouncement(b, [6]byte(mac), addr) }))
}

func TestNeighborAdvertisement(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8:10::50")
	b := NeighborAdvertisement(mac, addr)
	require.Len(t, b, NALen)
	require.Equal(t, byte(136), b[0], "type: neighbour advertisement")
	require.Equal(t, byte(0), b[1], "code")
	require.Equal(t, []byte{0, 0}, b[2:4], "checksum left to the kernel")
	require.Equal(t, byte(0x20), b[4], "override, not solicited, not router")
	require.Equal(t, addr.AsSlice(), b[8:24], "target")
	require.Equal(t, []byte{2, 1}, b[24:26], "target link-layer address option, 8 bytes")
	require.Equal(t, []byte(mac), b[26:32])
}

func TestDADProbe(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8:10::12:3456")
	grp, gmac := SolicitedNode(addr)
	require.Equal(t, netip.MustParseAddr("ff02::1:ff12:3456"), grp)
	require.Equal(t, net.HardwareAddr{0x33, 0x33, 0xff, 0x12, 0x34, 0x56}, gmac)

	b := DADProbe(addr)
	require.Len(t, b, 64)
	require.Equal(t, byte(0x60), b[0], "IPv6")
	require.Equal(t, uint16(24), binary.BigEndian.Uint16(b[4:]), "payload length")
	require.Equal(t, []byte{58, 255}, b[6:8], "ICMPv6, hop limit 255")
	require.Equal(t, make([]byte, 16), b[8:24], "source ::")
	require.Equal(t, grp.AsSlice(), b[24:40], "destination: the solicited-node group")
	icmp := b[40:]
	require.Equal(t, byte(135), icmp[0], "neighbour solicitation")
	require.Equal(t, addr.AsSlice(), icmp[8:24])
	// The checksum verifies: summed with the message it comes out zero.
	require.Zero(t, ICMPv6Checksum(b[8:24], b[24:40], icmp))
}

func TestICMPv6Checksum(t *testing.T) {
	// RFC 1071's example words, odd length padded with zero.
	src, dst := make([]byte, 16), make([]byte, 16)
	body := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x01}
	var sum uint32 = 0x0001 + 0xf203 + 0xf4f5 + 0xf6f7 + 0x0100 + uint32(len(body)) + 58
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	require.Equal(t, ^uint16(sum), ICMPv6Checksum(src, dst, body))
}

func BenchmarkPutARPProbe(b *testing.B) {
	addr := netip.MustParseAddr("198.18.10.50")
	buf := make([]byte, ARPLen)
	sha := [6]byte(mac)
	b.ReportAllocs()
	for b.Loop() {
		PutARPProbe(buf, sha, addr)
	}
}
