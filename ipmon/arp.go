package ipmon

import (
	"encoding/binary"
	"net/netip"

	"github.com/netpulse/netpulse/internal/announce"
)

// ARP probes (RFC 5227, encoded by announce.PutARPProbe, which failover's
// actuator shares): an ARP request with sender protocol address 0.0.0.0,
// so that no neighbour cache learns anything from it. The target answers
// with an ARP reply addressed to our hardware address, target protocol
// address 0.0.0.0.

// arpFields are the fields of an ARP packet over Ethernet and IPv4.
type arpFields struct {
	op       uint16
	sha, tha [6]byte
	spa, tpa netip.Addr
	iface    string // set by the receiver: the interface it arrived on
}

// parseARP decodes an Ethernet/IPv4 ARP packet, or reports it malformed.
func parseARP(b []byte) (arpFields, dropReason) {
	var f arpFields
	if len(b) < announce.ARPLen {
		return f, dropMalformed
	}
	if binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return f, dropMalformed
	}
	f.op = binary.BigEndian.Uint16(b[6:])
	f.sha = [6]byte(b[8:14])
	f.spa = netip.AddrFrom4([4]byte(b[14:18]))
	f.tha = [6]byte(b[18:24])
	f.tpa = netip.AddrFrom4([4]byte(b[24:28]))
	return f, dropNone
}

// matchARP finds the target an ARP reply answers and the probe it answers
// (the newest one in flight: ARP carries no sequence). Called with p.mu
// held; it counts what it drops. ARP requests and other chatter are not
// replies and are ignored without counting.
func (p *Poller) matchARP(pk *rxPacket) (*target, uint32) {
	f := &pk.arp
	if f.op != 2 {
		return nil, 0
	}
	tg := p.targets[key{f.iface, f.spa, ProbeARP}]
	if tg == nil {
		// A reply from an address we do not probe: someone else's.
		p.drops.Foreign++
		return nil, 0
	}
	if f.tha != tg.tx.arpHW() || f.tpa.IsValid() && !f.tpa.IsUnspecified() {
		// Not an answer to our probe (sent to another host, or to a
		// request that had a sender address).
		p.drops.Foreign++
		return nil, 0
	}
	if tg.next == tg.oldest {
		// Nothing in flight: a late or unsolicited reply.
		p.drops.Late++
		return nil, 0
	}
	return tg, tg.next - 1
}
