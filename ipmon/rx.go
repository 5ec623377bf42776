package ipmon

import "sync/atomic"

// rxCounters counts packets refused by the receive path before it takes
// Poller.mu (see deliverBatch): written by the receiving goroutine, read by
// Snapshot.
type rxCounters struct {
	foreign, spoofed, malformed atomic.Uint64
	// overflow4 and overflow6 are the receive sockets' drop counts as the
	// kernel last reported them (cumulative).
	overflow4, overflow6 atomic.Uint64
}

// add returns d plus the counts refused before the lock.
func (c *rxCounters) add(d Drops) Drops {
	d.Foreign += c.foreign.Load()
	d.Spoofed += c.spoofed.Load()
	d.Malformed += c.malformed.Load()
	d.Overflow += c.overflow4.Load() + c.overflow6.Load()
	return d
}

// noteOverflow records a receive socket's drop count carried by pk (it
// only grows; the receiving goroutine is the only writer).
func (c *rxCounters) noteOverflow(pk *rxPacket) {
	o := &c.overflow4
	if pk.v6 {
		o = &c.overflow6
	}
	if n := uint64(pk.overflow); n > o.Load() {
		o.Store(n)
	}
}

// precheck decodes an echo reply and checks its identifier and per-probe
// authenticator, without Poller.mu (the key and the echo IDs never change
// after Open). It records the outcome in pk and counts a refusal; it
// reports whether pk goes on to matching under the lock. ARP packets go on
// unchecked.
func (p *Poller) precheck(pk *rxPacket) bool {
	if pk.kind == ProbeARP {
		return true
	}
	if pk.overflow != 0 {
		p.rx.noteOverflow(pk)
	}
	if pk.malformed {
		pk.why = dropMalformed
	} else {
		pk.f, pk.why = parseEcho(pk.data, pk.v6, p.tr.echoID(pk.v6), true, &p.key)
	}
	switch pk.why {
	case dropNone:
		return true
	case dropForeign:
		p.rx.foreign.Add(1)
	case dropMalformed:
		p.rx.malformed.Add(1)
	default:
		p.rx.spoofed.Add(1)
	}
	return false
}

// hasInterface reports whether iface has targets.
func (p *Poller) hasInterface(iface string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ifaces[iface] != nil
}
