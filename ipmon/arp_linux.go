//go:build linux

package ipmon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"github.com/netpulse/netpulse/internal/announce"
	"golang.org/x/sys/unix"
)

// arpSocket is an AF_PACKET socket (github.com/mdlayher/packet) bound to one
// interface for ARP, shared by that interface's ARP-probe targets.
type arpSocket struct {
	closed atomic.Bool
	conn   *packet.Conn
	fd     int
	name   string
	index  int
	hw     [6]byte
	refs   int
	to     unix.SockaddrLinklayer
}

func (tx *txState) arpHW() [6]byte {
	if tx.arp == nil {
		return [6]byte{}
	}
	return tx.arp.hw
}

// attachARP opens (or shares) the interface's ARP socket; hw is the
// interface's hardware address. Called with t.lk held.
func (t *linuxTransport) attachARP(tg *target, hw net.HardwareAddr) error {
	if a := t.arps[tg.ifindex]; a != nil {
		a.refs++
		tg.tx.arp = a
		return nil
	}
	if len(hw) != 6 {
		return fmt.Errorf("%w: interface %q has no Ethernet address for ARP", ErrInvalidTarget, tg.t.Interface)
	}
	ifi := &net.Interface{Index: tg.ifindex, Name: tg.t.Interface, HardwareAddr: hw}
	var conn *packet.Conn
	err := inNetNS(t.netns, func() error {
		var err error
		conn, err = packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("ipmon: ARP socket on %q (needs CAP_NET_RAW): %w", tg.t.Interface, err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return err
	}
	a := &arpSocket{conn: conn, name: tg.t.Interface, index: tg.ifindex, hw: [6]byte(hw), refs: 1}
	_ = rc.Control(func(fd uintptr) { a.fd = int(fd) })
	a.to = unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: tg.ifindex, Halen: 6}
	copy(a.to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	t.arps[tg.ifindex] = a
	tg.tx.arp = a
	t.arpWG.Add(1)
	go a.loop(&t.arpWG, t.p)
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// detachARP releases a target's share of the socket. Called with t.lk held.
func (t *linuxTransport) detachARP(_ *target, a *arpSocket) {
	a.refs--
	if a.refs == 0 && !t.closed {
		delete(t.arps, a.index)
		a.close()
	}
}

func (a *arpSocket) close() error {
	a.closed.Store(true)
	return a.conn.Close()
}

// sendARP sends one RFC 5227 probe. Called with Poller.mu held.
func (t *linuxTransport) sendARP(tg *target) error {
	a := tg.tx.arp
	if a == nil {
		return errors.New("ipmon: no ARP socket")
	}
	announce.PutARPProbe(tg.pkt[:announce.ARPLen], a.hw, tg.t.Addr)
	return unix.Sendto(a.fd, tg.pkt[:announce.ARPLen], unix.MSG_DONTWAIT, &a.to)
}

// loop reads ARP packets until the socket is closed.
func (a *arpSocket) loop(wg *sync.WaitGroup, p *Poller) {
	defer wg.Done()
	var buf [1500]byte
	for {
		n, _, err := a.conn.ReadFrom(buf[:])
		if err != nil {
			if a.closed.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			// A transient error (ENOBUFS, ENETDOWN while the link is
			// down): keep reading, without spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f, why := parseARP(buf[:n])
		if why != dropNone {
			// parseARP's only refusal: counted without the lock, as
			// precheck counts a malformed echo reply.
			p.rx.malformed.Add(1)
			continue
		}
		f.iface = a.name
		pk := rxPacket{kind: ProbeARP, src: f.spa, ifindex: a.index, arp: f}
		p.deliver(&pk)
	}
}
