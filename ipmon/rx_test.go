package ipmon

import (
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/announce"
	"github.com/stretchr/testify/require"
)

// TestForgedBatchTakesNoLock: a batch of forged packets (our ID with a
// wrong authenticator, another ID, a truncated one) is refused and counted
// without Poller.mu: delivering it while the lock is held does not block.
// A genuine reply in the same batch waits for the lock and counts.
func TestForgedBatchTakesNoLock(t *testing.T) {
	p, _ := fakePoller(t, Config{Interval: time.Hour, Timeout: time.Minute})
	require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
	p.mu.Lock()
	var tg *target
	for _, x := range p.targets {
		tg = x
	}
	n := tg.sendSlot(time.Now(), 0)
	req := make([]byte, echoLen)
	buildEcho(req, false, 0x4242, &p.key, echoFields{slot: tg.slot, gen: tg.gen, prob: n})
	p.mu.Unlock()
	good := echoReplyFor(req, false)
	forgedMAC := echoReplyFor(req, false)
	forgedMAC[9] ^= 1
	forgedMAC[2], forgedMAC[3] = 0, 0
	copy(forgedMAC[2:], []byte{byte(announce.Checksum(forgedMAC) >> 8), byte(announce.Checksum(forgedMAC))})
	other := echoReplyFor(req, false)
	other[4] ^= 1
	other[2], other[3] = 0, 0
	copy(other[2:], []byte{byte(announce.Checksum(other) >> 8), byte(announce.Checksum(other))})
	forged := []rxPacket{
		{src: tgtA, ifindex: 2, data: forgedMAC},
		{src: tgtA, ifindex: 2, data: other},
		{src: tgtA, ifindex: 2, data: good[:7]},
	}

	p.mu.Lock()
	done := make(chan struct{})
	go func() {
		p.deliverBatch(forged)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.mu.Unlock()
		t.Fatal("a batch of forged packets waited for the Poller's lock")
	}
	genuine := append(forged[:0:0], rxPacket{src: tgtA, ifindex: 2, data: good})
	done2 := make(chan struct{})
	go func() {
		p.deliverBatch(genuine)
		close(done2)
	}()
	select {
	case <-done2:
		t.Fatal("a genuine reply was handled without the lock")
	case <-time.After(50 * time.Millisecond):
	}
	p.mu.Unlock()
	<-done2
	s := p.Snapshot()
	require.Equal(t, uint64(1), s.Drops.Spoofed)
	require.Equal(t, uint64(1), s.Drops.Foreign)
	require.Equal(t, uint64(1), s.Drops.Malformed)
	require.Equal(t, uint64(1), s.Received)
}
