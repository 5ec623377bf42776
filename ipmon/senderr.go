package ipmon

// Send errors: a probe the kernel refuses is a miss when the refusal says
// the path is dead (no route, network down or unreachable, no carrier),
// and nothing at all when it says only that this host is short of buffer
// space for the moment (EAGAIN: the socket's send buffer is full; ENOBUFS,
// ENOMEM: a full queue or no memory). Local congestion must not declare a
// remote target down: such a probe is abandoned (neither a miss nor a
// reply) and counted in Snapshot.LocalSendErrors and
// TargetStats.LocalSendErrors. But a device that has lost its carrier
// refuses with the same errno (veth; a NIC's carrier-loss notification may
// lag a second): after a local send error the transport asks for the
// device's carrier, and without carrier the refusal is a miss.

// sendFailed records that probe n of tg was refused by the kernel with err.
// Called with Poller.mu held, by sendProbe or by the transport's flush.
func (p *Poller) sendFailed(tg *target, n uint32, err error) {
	p.sendErrors++
	if !localSendError(err) {
		// The probe stays pending and times out as a miss: the kernel's
		// refusal is evidence of a dead path.
		return
	}
	if cp, ok := p.tr.(carrierProber); ok && cp.carrierDown(tg.ifindex) {
		// A device without carrier refuses with the same errno as a
		// full queue (carrierprobe_linux.go): the path is dead, a miss.
		return
	}
	p.localSendErrors++
	tg.localSendErrors++
	tg.abandon(n)
}

// carrierProber is a transport that can tell whether a device has lost its
// carrier, asking the kernel now rather than waiting for its notification.
type carrierProber interface {
	carrierDown(ifindex int) bool
}

// abandon settles probe n, if still pending, as neither a miss nor a reply:
// its timeout counts nothing, a reply to it is late. The oldest probe
// still tracked moves past it, so that the next pending probe's timeout is
// what the scheduler waits for.
func (tr *tracker) abandon(n uint32) {
	s := &tr.ring[n&tr.mask]
	if s.n != n || s.state != slotPending {
		return
	}
	s.state = slotAbandoned
	for tr.oldest != tr.next {
		o := &tr.ring[tr.oldest&tr.mask]
		if o.n == tr.oldest && o.state == slotPending {
			break
		}
		tr.oldest++
	}
}
