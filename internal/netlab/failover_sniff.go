//go:build linux

package netlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// An Announcement is a gratuitous ARP (sender address equal to target
// address) or an unsolicited-looking neighbour advertisement seen on a link.
type Announcement struct {
	// Time is when the sniffer read it.
	Time time.Time
	// IPv6 is true for a neighbour advertisement.
	IPv6 bool
	// Addr is the announced address (ARP sender address, NA target).
	Addr netip.Addr
	// HardwareAddr is the announced link-layer address (ARP sender
	// hardware address, NA target link-layer address option).
	HardwareAddr net.HardwareAddr
	// Source is the Ethernet source address of the frame.
	Source net.HardwareAddr
	// Op is the ARP operation (1 request, 2 reply); 0 for NA.
	Op int
	// HopLimit, Override, Solicited and Dst describe an NA.
	HopLimit            int
	Override, Solicited bool
	Dst                 netip.Addr
}

// AnnouncementSniffer reads gratuitous ARP and neighbour advertisements
// arriving on one link of a namespace, through one AF_PACKET socket, in
// the order they arrived.
type AnnouncementSniffer struct {
	conn *packet.Conn
	ch   chan Announcement
	wg   sync.WaitGroup
	once sync.Once

	mu  sync.Mutex
	log []Announcement
}

// SniffAnnouncements starts a sniffer on the named link of the namespace.
// Close it when done.
func (n *NS) SniffAnnouncements(dev string) (*AnnouncementSniffer, error) {
	idx, err := n.Index(dev)
	if err != nil {
		return nil, err
	}
	filter, err := sniffFilter()
	if err != nil {
		return nil, err
	}
	s := &AnnouncementSniffer{ch: make(chan Announcement, 1024)}
	err = n.Do(func() error {
		c, err := packet.Listen(&net.Interface{Index: idx, Name: dev}, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
		if err != nil {
			return fmt.Errorf("netlab: AF_PACKET on %s in %q: %w", dev, n.name, err)
		}
		s.conn = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.read(s.conn)
	return s, nil
}

// sniffFilter passes the incoming ARP and IPv6 frames to a raw ETH_P_ALL
// socket. One socket for both keeps them in the order they arrived: with
// one socket per protocol, each read by its own goroutine, an NA could
// reach C before the gratuitous ARP sent just before it, and a Wait for
// the ARP would skip (lose) the NA.
func sniffFilter() ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 4},
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_ARP, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
}

func (s *AnnouncementSniffer) read(c *packet.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 14 {
			continue
		}
		var src net.HardwareAddr
		if pa, ok := from.(*packet.Addr); ok {
			src = pa.HardwareAddr
		}
		var a Announcement
		var ok bool
		switch binary.BigEndian.Uint16(buf[12:14]) {
		case unix.ETH_P_IPV6:
			a, ok = parseNA(buf[14:n])
		case unix.ETH_P_ARP:
			a, ok = parseGARP(buf[14:n])
		}
		if !ok {
			continue
		}
		a.Time, a.Source = time.Now(), src
		s.mu.Lock()
		if len(s.log) < 100000 {
			s.log = append(s.log, a)
		}
		s.mu.Unlock()
		select {
		case s.ch <- a:
		default:
		}
	}
}

func parseGARP(b []byte) (Announcement, bool) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return Announcement{}, false
	}
	if !bytes.Equal(b[14:18], b[24:28]) {
		return Announcement{}, false // not gratuitous
	}
	addr, _ := netip.AddrFromSlice(b[14:18])
	return Announcement{Addr: addr, HardwareAddr: net.HardwareAddr(bytes.Clone(b[8:14])), Op: int(binary.BigEndian.Uint16(b[6:]))}, true
}

func parseNA(b []byte) (Announcement, bool) {
	// IPv6 header (40 bytes), next header ICMPv6 directly.
	if len(b) < 40+24 || b[0]>>4 != 6 || b[6] != 58 || b[40] != 136 {
		return Announcement{}, false
	}
	dst, _ := netip.AddrFromSlice(b[24:40])
	icmp := b[40:]
	a := Announcement{IPv6: true, HopLimit: int(b[7]), Dst: dst,
		Solicited: icmp[4]&0x40 != 0, Override: icmp[4]&0x20 != 0}
	a.Addr, _ = netip.AddrFromSlice(icmp[8:24])
	for opt := icmp[24:]; len(opt) >= 8 && opt[1] > 0 && len(opt) >= int(opt[1])*8; opt = opt[int(opt[1])*8:] {
		if opt[0] == 2 {
			a.HardwareAddr = net.HardwareAddr(bytes.Clone(opt[2:8]))
		}
	}
	return a, true
}

// Seen returns every announcement read since the sniffer started (up to
// 100,000), whether or not it was also taken from C.
func (s *AnnouncementSniffer) Seen() []Announcement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Announcement(nil), s.log...)
}

// C returns the channel of announcements (buffered; excess is dropped).
func (s *AnnouncementSniffer) C() <-chan Announcement { return s.ch }

// ErrNoAnnouncement is returned by Wait when nothing matching arrived.
var ErrNoAnnouncement = errors.New("netlab: no matching announcement")

// Wait returns the first announcement of addr at mac (nil mac: any) read
// from now on, or an error wrapping ErrNoAnnouncement after timeout.
func (s *AnnouncementSniffer) Wait(addr netip.Addr, mac net.HardwareAddr, timeout time.Duration) (Announcement, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case a := <-s.ch:
			if a.Addr == addr && (mac == nil || bytes.Equal(a.HardwareAddr, mac)) {
				return a, nil
			}
		case <-t.C:
			return Announcement{}, fmt.Errorf("%w: %v at %v within %v", ErrNoAnnouncement, addr, mac, timeout)
		}
	}
}

// Drain discards the announcements read so far.
func (s *AnnouncementSniffer) Drain() {
	for {
		select {
		case <-s.ch:
		default:
			return
		}
	}
}

// Close stops the sniffer and waits for its goroutines. It is idempotent.
func (s *AnnouncementSniffer) Close() error {
	var errs []error
	s.once.Do(func() {
		if s.conn != nil {
			errs = append(errs, s.conn.Close())
		}
		s.wg.Wait()
	})
	return errors.Join(errs...)
}
