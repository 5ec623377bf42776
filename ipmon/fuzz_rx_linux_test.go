//go:build linux

package ipmon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The seed corpora in testdata/fuzz/FuzzParseControl and
// testdata/fuzz/FuzzRxParse were captured from real replies by
// TestCaptureFuzzSeeds (NETPULSE_CAPTURE_SEEDS=1 go test -run
// TestCaptureFuzzSeeds ./ipmon): what recvmmsg returned on the receive
// sockets, with their options, for an IPv4 and an IPv6 echo reply.

// referenceControl decodes oob with x/sys/unix's (allocating) parser, as
// parseControl must: the last timestamp and packet-info messages win.
func referenceControl(oob []byte) (ifindex int, wall int64, ovfl uint32, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, 0, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			wall = ts.Nano()
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4:
			ovfl = *(*uint32)(unsafe.Pointer(&m.Data[0]))
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			ifindex = int((*unix.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0])).Ifindex)
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			ifindex = int((*unix.Inet6Pktinfo)(unsafe.Pointer(&m.Data[0])).Ifindex)
		}
	}
	return ifindex, wall, ovfl, true
}

// FuzzParseControl: the allocation-free control-message parser never
// panics and, wherever x/sys/unix's parser accepts the buffer, finds the
// same ingress interface and timestamp.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, unix.SizeofCmsghdr))
	// SO_RXQ_OVFL as the kernel sends it (a 4-byte count).
	ovfl := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ovfl[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_RXQ_OVFL
	h.SetLen(unix.CmsgLen(4))
	ovfl[unix.CmsgLen(0)] = 7
	f.Add(ovfl)
	f.Fuzz(func(t *testing.T, oob []byte) {
		// The kernel hands an aligned buffer; so does the receive slot.
		buf := make([]uint64, (len(oob)+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(oob)]
		copy(b, oob)
		var pk rxPacket
		parseControl(b, &pk)
		if ifindex, wall, ovfl, ok := referenceControl(b); ok {
			if pk.ifindex != ifindex || pk.rxWall != wall || pk.overflow != ovfl {
				t.Fatalf("parseControl: ifindex %d wall %d overflow %d; x/sys/unix: %d %d %d", pk.ifindex, pk.rxWall, pk.overflow, ifindex, wall, ovfl)
			}
		}
	})
}

// FuzzRxParse feeds one received message (data as recvmmsg returned it,
// its control messages and flags) through the receive socket's decoder
// and the validator: never a panic; a packet not marked malformed has its
// ICMP message inside the buffer, and for a raw IPv4 socket its source is
// the IP header's; a truncated message is malformed.
func FuzzRxParse(f *testing.F) {
	f.Add(ipv4Wrap(make([]byte, echoLen)), []byte{}, uint32(0), false, true)
	f.Add(make([]byte, echoLen), []byte{}, uint32(unix.MSG_TRUNC), true, true)
	f.Fuzz(func(t *testing.T, data, oob []byte, flags uint32, v6, raw bool) {
		s := &rxSocket{v6: v6, raw: raw, id: fuzzID}
		sl := &s.slots[0]
		n := copy(sl.buf[:], data)
		c := copy(sl.oob[:], oob)
		s.mm[0].n = uint32(n)
		s.mm[0].hdr.Flags = int32(flags)
		s.mm[0].hdr.SetControllen(c)
		sl.name.Addr = [16]byte{198, 18, 0, 1}
		var pk rxPacket
		s.parse(0, &pk)
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 && !pk.malformed {
			t.Fatal("truncated message not marked malformed")
		}
		if pk.malformed {
			return
		}
		if len(pk.data) > n {
			t.Fatalf("data of %d bytes from a %d-byte message", len(pk.data), n)
		}
		if raw && !v6 && pk.src != netip.AddrFrom4([4]byte(sl.buf[12:16])) {
			t.Fatalf("source %v, IP header says %v", pk.src, sl.buf[12:16])
		}
		p := &Poller{key: fuzzKey, tr: fixedID(fuzzID)}
		p.precheck(&pk)
	})
}

// fixedID is a transport stand-in for precheck: it only answers echoID.
type fixedID uint16

func (f fixedID) mode() Mode               { return ModeRaw }
func (f fixedID) index(string) int         { return 0 }
func (f fixedID) echoID(bool) uint16       { return uint16(f) }
func (fixedID) attach(*target) error       { return nil }
func (fixedID) detach(*target)             {}
func (fixedID) send(*target, []byte) error { return nil }
func (fixedID) flush() int                 { return 0 }
func (fixedID) start(*Poller)              {}
func (fixedID) wait(time.Duration)         {}
func (fixedID) drain()                     {}
func (fixedID) kick()                      {}
func (fixedID) close() error               { return nil }

// TestCaptureFuzzSeeds writes the seed corpora from real replies (see
// above). It runs only with NETPULSE_CAPTURE_SEEDS=1.
func TestCaptureFuzzSeeds(t *testing.T) {
	if os.Getenv("NETPULSE_CAPTURE_SEEDS") != "1" {
		t.Skip("set NETPULSE_CAPTURE_SEEDS=1 to capture the fuzz seed corpora")
	}
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 45)
	require.NoError(t, err)
	cfg, err := (&Config{NetNS: pair.Node.FD()}).withDefaults()
	require.NoError(t, err)
	tr, err := openTransport(&cfg)
	require.NoError(t, err)
	defer tr.close()
	tr.p = &Poller{key: fuzzKey, tr: tr}
	for _, v6 := range []bool{false, true} {
		s := tr.rx4
		dst := pair.ServerAddr4
		family, proto := unix.AF_INET, unix.IPPROTO_ICMP
		var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: dst.As4()}
		if v6 {
			s, dst = tr.rx6, pair.ServerAddr6
			family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
			sa = &unix.SockaddrInet6{Addr: dst.As16()}
		}
		var fd int
		require.NoError(t, pair.Node.Do(func() error {
			fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
			return err
		}))
		var pkt [echoLen]byte
		buildEcho(pkt[:], v6, s.id, &fuzzKey, echoFields{slot: 1, gen: 2, prob: 3})
		var got bool
		for i := 0; i < 200 && !got; i++ {
			require.NoError(t, unix.Sendto(fd, pkt[:], 0, sa))
			time.Sleep(10 * time.Millisecond)
			s.drain(func(pks []rxPacket) {
				if got || len(pks) == 0 {
					return
				}
				m, sl := &s.mm[0], &s.slots[0]
				data := sl.buf[:m.n]
				oob := sl.oob[:m.hdr.Controllen]
				name := fmt.Sprintf("real-v%d", map[bool]int{false: 4, true: 6}[v6])
				writeSeed(t, "FuzzParseControl", name, fmt.Sprintf("[]byte(%q)\n", oob))
				writeSeed(t, "FuzzRxParse", name, fmt.Sprintf("[]byte(%q)\n[]byte(%q)\nuint32(%d)\nbool(%v)\nbool(true)\n", data, oob, m.hdr.Flags, v6))
				if !v6 {
					writeSeed(t, "FuzzParseEcho", name, fmt.Sprintf("[]byte(%q)\nbool(false)\nbool(true)\n", data))
				} else {
					writeSeed(t, "FuzzParseEcho", name, fmt.Sprintf("[]byte(%q)\nbool(true)\nbool(false)\n", data))
				}
				got = true
			})
		}
		unix.Close(fd)
		require.True(t, got, "no reply captured (v6 %v)", v6)
	}
}

func writeSeed(t *testing.T, fuzz, name, body string) {
	dir := filepath.Join("testdata", "fuzz", fuzz)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644))
}
