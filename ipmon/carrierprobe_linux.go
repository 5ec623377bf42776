//go:build linux

package ipmon

import (
	"sync"
	"time"
)

// A device that has lost its carrier may refuse a probe with the same
// ENOBUFS as a full queue: veth drops a packet whose peer is down
// (NET_XMIT_DROP, which the socket reports as ENOBUFS), and the kernel's
// notification of a physical NIC's carrier loss may wait up to a second
// (linkwatch). Counted as local send errors, such refusals would keep the
// target's state as it was for that long: measured 648 ms median from
// carrier loss to "down" on NIC-like veths without this check, against 48 ms
// on ordinary ones. So a local send error makes the transport ask the
// kernel for the device's carrier (a per-device RTM_GETLINK, which reads the
// driver's carrier bit and makes the kernel process the device's pending
// carrier event), at most once per carrierProbeEvery per device; without
// carrier the refusal is a miss.

// carrierProbeEvery is how long a device's carrier reading is reused.
const carrierProbeEvery = 5 * time.Millisecond

// carrierProbes caches the last per-device carrier readings.
type carrierProbes struct {
	mu   sync.Mutex
	seen map[int]carrierReading
}

type carrierReading struct {
	at   time.Time
	down bool
}

// carrierDown reports whether link idx has no carrier now (false if it
// cannot tell). Called with Poller.mu held, from sendFailed; it never takes
// the transport's lock (the link follower holds it while it calls into the
// Poller).
func (t *linuxTransport) carrierDown(idx int) bool {
	if idx <= 0 || t.closing.Load() {
		return false
	}
	now := time.Now()
	cp := &t.carrierProbes
	cp.mu.Lock()
	if r, ok := cp.seen[idx]; ok && now.Sub(r.at) < carrierProbeEvery {
		cp.mu.Unlock()
		return r.down
	}
	cp.mu.Unlock()
	// The rtnetlink connection is safe for concurrent use; Close stops
	// the scheduler (the only caller) before it closes the connection.
	l, err := t.rt.Link.Get(uint32(idx))
	down := err == nil && !hasCarrier(l.Flags)
	cp.mu.Lock()
	if cp.seen == nil {
		cp.seen = make(map[int]carrierReading)
	}
	cp.seen[idx] = carrierReading{at: now, down: down}
	cp.mu.Unlock()
	return down
}
