//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ErrNoReply is returned by Ping when no matching echo reply arrived in time.
var ErrNoReply = errors.New("netlab: no echo reply")

// Ping sends one ICMP or ICMPv6 echo request from the namespace to dst and
// waits up to timeout for the matching reply (same ID, sequence, payload and
// source). dev, if not empty, binds the socket to that link
// (SO_BINDTODEVICE). It returns the round-trip time, or an error wrapping
// ErrNoReply.
func (n *NS) Ping(dev string, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	network, proto := "ip4:icmp", 1
	var typ, replyTyp icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() && !dst.Is4In6() {
		network, proto = "ip6:ipv6-icmp", 58
		typ, replyTyp = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	dst = dst.Unmap()
	var pc net.PacketConn
	err := n.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			if dev == "" {
				return nil
			}
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev)
			}); err != nil {
				return err
			}
			return serr
		}}
		var err error
		pc, err = lc.ListenPacket(context.Background(), network, "")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netlab: ping socket in %q: %w", n.name, err)
	}
	defer pc.Close()

	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return 0, err
	}
	id, seq := int(binary.BigEndian.Uint16(rnd[0:2])), int(binary.BigEndian.Uint16(rnd[2:4]))
	payload := append([]byte("netlab"), rnd[4:]...)
	req, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}).Marshal(nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := pc.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("netlab: ping %v from %q: %w", dst, n.name, err)
	}
	deadline := start.Add(timeout)
	if err := pc.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for {
		nr, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || time.Now().After(deadline) {
				return 0, fmt.Errorf("%w from %v within %v (namespace %q)", ErrNoReply, dst, timeout, n.name)
			}
			return 0, err
		}
		src, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if a, ok := netip.AddrFromSlice(src.IP); !ok || a.Unmap() != dst {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:nr])
		if err != nil || m.Type != replyTyp {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != id || e.Seq != seq || string(e.Data) != string(payload) {
			continue
		}
		return time.Since(start), nil
	}
}
