package ipmon

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/netpulse/netpulse/internal/announce"
)

// fakeTransport answers probes in simulated time: a target answers if its
// address is in answering, after delay, arriving on the probe's interface
// (or on ingress if set).
type fakeTransport struct {
	mu        sync.Mutex
	p         *Poller
	ifindex   map[string]int
	answering map[netip.Addr]bool
	delay     time.Duration
	ingress   int
	sends     map[netip.Addr]int
	kicks     chan struct{}
}

func newFake() *fakeTransport {
	return &fakeTransport{
		ifindex:   map[string]int{"eth2": 2, "eth3": 3},
		answering: map[netip.Addr]bool{},
		delay:     time.Millisecond,
		sends:     map[netip.Addr]int{},
		kicks:     make(chan struct{}, 1),
	}
}

func (f *fakeTransport) setAnswering(a netip.Addr, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answering[a] = on
}

func (f *fakeTransport) sent(a netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends[a]
}

func (f *fakeTransport) mode() Mode { return ModeRaw }
func (f *fakeTransport) index(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ifindex[name]
}

// deleteLink forgets the interface named name, as if it was deleted.
func (f *fakeTransport) deleteLink(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ifindex, name)
}
func (f *fakeTransport) echoID(v6 bool) uint16 { return 0x4242 }
func (f *fakeTransport) start(p *Poller)       { f.p = p }
func (f *fakeTransport) close() error          { return nil }
func (f *fakeTransport) detach(*target)        {}
func (f *fakeTransport) drain()                {}
func (f *fakeTransport) flush() int            { return 0 }

func (f *fakeTransport) kick() {
	select {
	case f.kicks <- struct{}{}:
	default:
	}
}

func (f *fakeTransport) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.kicks:
	case <-t.C:
	}
}

func (f *fakeTransport) attach(tg *target) error {
	f.mu.Lock()
	idx, ok := f.ifindex[tg.t.Interface]
	f.mu.Unlock()
	if !ok {
		return ErrUnknownInterface
	}
	tg.ifindex = idx
	return nil
}

func (f *fakeTransport) send(tg *target, pkt []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends[tg.t.Addr]++
	if !f.answering[tg.t.Addr] {
		return nil
	}
	reply := echoReplyFor(pkt, tg.t.Addr.Is6())
	pk := rxPacket{v6: tg.t.Addr.Is6(), src: tg.t.Addr, ifindex: tg.ifindex, data: reply}
	if f.ingress != 0 {
		pk.ifindex = f.ingress
	}
	go func() {
		time.Sleep(f.delay)
		f.p.deliver(&pk)
	}()
	return nil
}

// echoReplyFor turns an echo request into the reply a host would send.
func echoReplyFor(req []byte, v6 bool) []byte {
	b := append([]byte(nil), req...)
	if v6 {
		b[0] = icmpv6EchoReply
		return b
	}
	b[0] = icmpv4EchoReply
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[2:], announce.Checksum(b))
	return b
}
