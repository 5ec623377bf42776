package linkmon

import (
	"encoding/binary"
	"testing"

	"github.com/netpulse/netpulse"
)

// linkTestBytes encodes an RTM_NEWLINK as the kernel sends it (the attributes
// linkmon reads, plus padding standing in for the rest).
func linkTestBytes(index int, name string, carrier bool) []byte {
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
	oper := byte(OperStateLowerLayerDown)
	if carrier {
		flags |= iffLowerUp
		oper = byte(OperStateUp)
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

// linkOf returns ev as a link event, failing the test if it is another kind.
func linkOf(t testing.TB, ev netpulse.Event) *LinkEvent {
	t.Helper()
	l, ok := ev.(*LinkEvent)
	if !ok {
		t.Fatalf("got %T %+v, want a *LinkEvent", ev, ev)
	}
	return l
}

// recvLink receives one event from ch, which must be a link event.
func recvLink(t testing.TB, ch <-chan netpulse.Event) *LinkEvent {
	t.Helper()
	ev, ok := <-ch
	if !ok {
		t.Fatal("subscription closed")
	}
	return linkOf(t, ev)
}

// carrierIs reports whether ev is a link event of the named link with the
// given carrier.
func carrierIs(ev netpulse.Event, name string, carrier bool) bool {
	l, ok := ev.(*LinkEvent)
	return ok && l.State.Name == name && l.State.Present && l.State.Carrier == carrier
}
