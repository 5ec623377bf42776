//go:build linux

package linkmon

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
)

// BenchmarkCheckQuery times one carrier check: an RTM_GETLINK for one
// device and the application of its reply (no change, so no event).
func BenchmarkCheckQuery(b *testing.B) {
	lab := netlab.New(b)
	node, err := lab.NewNS("node")
	if err != nil {
		b.Fatal(err)
	}
	sw, err := lab.NewNS("sw")
	if err != nil {
		b.Fatal(err)
	}
	if err := lab.Veth(node, "eth3", sw, "p3", &netlab.VethOptions{NICLike: true}); err != nil {
		b.Fatal(err)
	}
	w, err := Open(context.Background(), &Config{NetNS: node.FD(), CheckInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	idx, _ := node.Index("eth3")
	b.ReportAllocs()
	for b.Loop() {
		w.k.query(idx, nil, true)
	}
}

// linkBytes encodes an RTM_NEWLINK as the kernel sends it (the attributes
// linkmon reads, plus padding standing in for the rest).
func linkBytes(index int, name string, carrier bool) []byte {
	attr := func(b []byte, t uint16, v []byte) []byte {
		l := 4 + len(v)
		h := make([]byte, 4)
		binary.NativeEndian.PutUint16(h[0:2], uint16(l))
		binary.NativeEndian.PutUint16(h[2:4], t)
		b = append(b, h...)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	flags := uint32(iffUp)
	oper := byte(OperLowerLayerDown)
	if carrier {
		flags |= iffLowerUp
		oper = byte(OperUp)
	}
	p := make([]byte, ifinfomsgLen)
	binary.NativeEndian.PutUint32(p[4:8], uint32(index))
	binary.NativeEndian.PutUint32(p[8:12], flags)
	p = attr(p, iflaIfname, append([]byte(name), 0))
	p = attr(p, iflaMTU, u32(1500))
	p = attr(p, iflaAddress, []byte{2, 0, 0, 0, 0, 2})
	p = attr(p, iflaLink, u32(uint32(index+1)))
	p = attr(p, iflaOperstate, []byte{oper})
	p = attr(p, 0x1a, make([]byte, 1200)) // IFLA_AF_SPEC-sized filler
	h := make([]byte, nlmsgHdrLen)
	binary.NativeEndian.PutUint32(h[0:4], uint32(nlmsgHdrLen+len(p)))
	binary.NativeEndian.PutUint16(h[4:6], rtmNewLink)
	return append(h, p...)
}

// BenchmarkEventPath measures the reader's work per carrier change after the
// socket read: split, decode, table update, fan-out and the subscriber's
// receive. allocs/op is allocations per event.
func BenchmarkEventPath(b *testing.B) {
	c := newCore(&config{Config: Config{Buffer: 64}})
	c.start()
	defer c.stop()
	msgs := [2][]byte{linkBytes(3, "eth2", false), linkBytes(3, "eth2", true)}
	var m linkMsg
	handle := func(buf []byte) {
		typ, _, _, p, _, err := nextMsg(buf)
		if err != nil {
			b.Fatal(err)
		}
		if err := parseLink(typ, p, &m); err != nil {
			b.Fatal(err)
		}
		c.apply(&m, time.Now())
	}
	handle(msgs[1])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.subscribe(ctx)
	<-ch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		handle(msgs[i&1])
		ev := <-ch
		if ev.State.Carrier != (i&1 == 1) {
			b.Fatal("wrong event")
		}
		i++
	}
}
