//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/netpulse/netpulse/internal/announce"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// Bounds of a forged-reply flood: a test cannot ask for more.
const (
	MaxFloodRate     = 500_000 // packets per second
	MaxFloodDuration = 30 * time.Second
)

// FloodConfig describes a flood of forged ICMP echo replies, as a hostile
// host on the subnet sends them.
type FloodConfig struct {
	// Dst lists the addresses the replies are sent to (IPv4, in the
	// 198.18.0.0/15 test range), in turn.
	Dst []netip.Addr
	// TargetSource is the spoofed source of half the packets (the probed
	// target's own address); OtherSource that of the other half.
	TargetSource, OtherSource netip.Addr
	// Rate is the packets per second to aim at (at most MaxFloodRate);
	// Duration how long to send (at most MaxFloodDuration).
	Rate     int
	Duration time.Duration
	// KnownID, if not zero, is the echo identifier that one packet in
	// KnownEvery carries (with an ICMP length of KnownLen), as an on-path
	// observer who saw one probe would forge; the others carry random
	// identifiers, sequence numbers and payload lengths. Every payload is
	// random.
	KnownID    uint16
	KnownEvery int
	KnownLen   int
}

// FloodStats is what a flood sent.
type FloodStats struct {
	Sent, Errors uint64
	Elapsed      time.Duration
}

// Rate returns the packets per second achieved.
func (s FloodStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

const (
	floodBatch = 64
	floodPool  = 1024 // distinct packets, cycled
)

type floodMmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Flood sends forged echo replies from the namespace held by nsFD (0: this
// one) through a raw IPPROTO_RAW socket with spoofed sources, paced to
// cfg.Rate in 1 ms steps, until cfg.Duration passes or ctx is done. It is
// bounded in rate and time and only sends to 198.18.0.0/15 addresses.
func Flood(ctx context.Context, nsFD int, cfg FloodConfig) (FloodStats, error) {
	var st FloodStats
	if cfg.Rate <= 0 || cfg.Rate > MaxFloodRate || cfg.Duration <= 0 || cfg.Duration > MaxFloodDuration {
		return st, fmt.Errorf("netlab: flood rate %d/s for %v out of bounds (1..%d/s, up to %v)", cfg.Rate, cfg.Duration, MaxFloodRate, MaxFloodDuration)
	}
	bench := netip.MustParsePrefix("198.18.0.0/15")
	if len(cfg.Dst) == 0 {
		return st, errors.New("netlab: flood with no destination")
	}
	for _, a := range append([]netip.Addr{cfg.TargetSource, cfg.OtherSource}, cfg.Dst...) {
		if !bench.Contains(a) {
			return st, fmt.Errorf("netlab: flood address %v outside 198.18.0.0/15", a)
		}
	}
	var fd int
	err := netns.Do(nsFD, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("netlab: flood socket: %w", err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)

	// A pool of packets, built once: IPv4 header (the kernel fills the
	// checksum and the ID) and an echo reply with a valid checksum, so that
	// nothing but the receiver's own validation can refuse it.
	var pool [floodPool][20 + 128]byte
	var lens [floodPool]int
	var dsts [floodPool]unix.RawSockaddrInet4
	rnd := make([]byte, floodPool*140)
	if _, err := rand.Read(rnd); err != nil {
		return st, err
	}
	for i := range pool {
		r := rnd[i*140 : (i+1)*140]
		b := pool[i][:]
		icmpLen := 8 + int(r[0]%57) // 8..64
		id := binary.BigEndian.Uint16(r[1:])
		if cfg.KnownID != 0 && cfg.KnownEvery > 0 && i%cfg.KnownEvery == 0 {
			id = cfg.KnownID
			icmpLen = min(max(cfg.KnownLen, 8), 128)
		}
		src := cfg.TargetSource
		if i%2 == 1 {
			src = cfg.OtherSource
		}
		dst := cfg.Dst[(i/2)%len(cfg.Dst)]
		total := 20 + icmpLen
		b[0], b[1] = 0x45, 0
		binary.BigEndian.PutUint16(b[2:], uint16(total))
		b[4], b[5], b[6], b[7] = 0, 0, 0, 0
		b[8], b[9] = 64, unix.IPPROTO_ICMP
		b[10], b[11] = 0, 0
		s4, d4 := src.As4(), dst.As4()
		copy(b[12:16], s4[:])
		copy(b[16:20], d4[:])
		m := b[20:total]
		m[0], m[1], m[2], m[3] = 0, 0, 0, 0 // echo reply
		binary.BigEndian.PutUint16(m[4:], id)
		copy(m[6:], r[3:3+icmpLen-6])
		binary.BigEndian.PutUint16(m[2:], announce.Checksum(m))
		lens[i] = total
		dsts[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: d4}
	}
	var iov [floodBatch]unix.Iovec
	var mm [floodBatch]floodMmsghdr

	start := time.Now()
	end := start.Add(cfg.Duration)
	next := 0
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			break
		}
		// Packets due by now at cfg.Rate, in batches; then sleep to the
		// next millisecond.
		due := uint64(float64(now.Sub(start)) / float64(time.Second) * float64(cfg.Rate))
		for st.Sent+st.Errors < due {
			n := int(min(due-st.Sent-st.Errors, floodBatch))
			for j := 0; j < n; j++ {
				k := (next + j) % floodPool
				iov[j].Base = &pool[k][0]
				iov[j].SetLen(lens[k])
				mm[j].hdr = unix.Msghdr{
					Name:    (*byte)(unsafe.Pointer(&dsts[k])),
					Namelen: unix.SizeofSockaddrInet4,
					Iov:     &iov[j],
					Iovlen:  1,
				}
			}
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&mm[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
			if e != 0 || r == 0 {
				// A full queue: count one and move on, never spin.
				st.Errors++
				next = (next + 1) % floodPool
				if e != unix.EAGAIN && e != unix.ENOBUFS && e != 0 {
					st.Elapsed = time.Since(start)
					return st, fmt.Errorf("netlab: flood sendmmsg: %w", e)
				}
				break
			}
			st.Sent += uint64(r)
			next = (next + int(r)) % floodPool
		}
		time.Sleep(time.Millisecond - time.Duration(time.Now().UnixNano()%int64(time.Millisecond)))
	}
	st.Elapsed = time.Since(start)
	return st, nil
}
