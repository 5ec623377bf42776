package linkmon

import (
	"encoding/binary"
	"errors"
	"syscall"
)

// Netlink and rtnetlink constants, spelled out here so that the parser has
// no dependency on a Linux-only package and can be tested (and fuzzed)
// anywhere.
const (
	nlmsgHdrLen   = 16
	ifinfomsgLen  = 16
	nlmsgError    = 2
	nlmsgDone     = 3
	rtmNewLink    = 16
	rtmDelLink    = 17
	rtmGetLink    = 18
	nlmFRequest   = 0x1
	nlmFMulti     = 0x2
	nlmFDumpIntr  = 0x10
	nlmFDump      = 0x300
	iflaAddress   = 1
	iflaIfname    = 3
	iflaMTU       = 4
	iflaLink      = 5
	iflaOperstate = 16
	iflaExtMask   = 29
	iffUp         = 0x1
	iffLoopback   = 0x8
	iffLowerUp    = 0x10000

	// rtextFilterSkipStats leaves the statistics out of link replies, which
	// makes every reply (and so every carrier check) smaller.
	rtextFilterSkipStats = 1 << 3
)

var errMalformed = errors.New("malformed netlink message")

// linkMsg is a decoded RTM_NEWLINK or RTM_DELLINK. Name and Addr point into
// the receive buffer: valid until the next receive.
type linkMsg struct {
	deleted bool
	index   int
	flags   uint32
	name    []byte
	addr    []byte
	mtu     int
	oper    uint8
	iflink  int // 0 when absent (then iflink == index)
}

// nicLike reports whether the kernel treats the device like a physical NIC
// for linkwatch: ifindex == iflink and not loopback.
func (m *linkMsg) nicLike() bool {
	return (m.iflink == 0 || m.iflink == m.index) && m.flags&iffLoopback == 0
}

// nextMsg splits the first netlink message off b. It returns the message
// type, flags, sequence, the payload and the rest.
func nextMsg(b []byte) (typ, flags uint16, seq uint32, payload, rest []byte, err error) {
	if len(b) < nlmsgHdrLen {
		return 0, 0, 0, nil, nil, errMalformed
	}
	l := int(binary.NativeEndian.Uint32(b[0:4]))
	if l < nlmsgHdrLen || l > len(b) {
		return 0, 0, 0, nil, nil, errMalformed
	}
	typ = binary.NativeEndian.Uint16(b[4:6])
	flags = binary.NativeEndian.Uint16(b[6:8])
	seq = binary.NativeEndian.Uint32(b[8:12])
	payload = b[nlmsgHdrLen:l]
	al := (l + 3) &^ 3
	if al > len(b) {
		al = len(b)
	}
	return typ, flags, seq, payload, b[al:], nil
}

// parseLink decodes an ifinfomsg and its attributes into m, without
// allocating.
func parseLink(typ uint16, p []byte, m *linkMsg) error {
	if len(p) < ifinfomsgLen {
		return errMalformed
	}
	*m = linkMsg{deleted: typ == rtmDelLink}
	m.index = int(int32(binary.NativeEndian.Uint32(p[4:8])))
	m.flags = binary.NativeEndian.Uint32(p[8:12])
	if m.index <= 0 {
		return errMalformed
	}
	a := p[ifinfomsgLen:]
	for len(a) >= 4 {
		l := int(binary.NativeEndian.Uint16(a[0:2]))
		t := binary.NativeEndian.Uint16(a[2:4]) & 0x3fff
		if l < 4 || l > len(a) {
			return errMalformed
		}
		v := a[4:l]
		switch t {
		case iflaIfname:
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			m.name = v
		case iflaAddress:
			m.addr = v
		case iflaMTU:
			if len(v) >= 4 {
				m.mtu = int(binary.NativeEndian.Uint32(v))
			}
		case iflaLink:
			if len(v) >= 4 {
				m.iflink = int(int32(binary.NativeEndian.Uint32(v)))
			}
		case iflaOperstate:
			if len(v) >= 1 {
				m.oper = v[0]
			}
		}
		al := (l + 3) &^ 3
		if al > len(a) {
			al = len(a)
		}
		a = a[al:]
	}
	if len(m.name) == 0 && !m.deleted {
		return errMalformed
	}
	return nil
}

// notifLinks walks one datagram of link notifications: each RTM_NEWLINK or
// RTM_DELLINK is decoded into m and handed to fn; other messages are
// skipped. It returns how many messages it dropped as malformed: a link
// message that does not decode, or a broken header (which ends the walk:
// the rest cannot be framed).
func notifLinks(b []byte, m *linkMsg, fn func(*linkMsg)) (dropped int) {
	for len(b) > 0 {
		typ, _, _, p, rest, err := nextMsg(b)
		if err != nil {
			return dropped + 1
		}
		b = rest
		if typ != rtmNewLink && typ != rtmDelLink {
			continue
		}
		if err := parseLink(typ, p, m); err != nil {
			dropped++
			continue
		}
		fn(m)
	}
	return dropped
}

// appendGetLink appends an RTM_GETLINK request for index (0 with dump set:
// every link) to b.
func appendGetLink(b []byte, seq uint32, index int, dump bool) []byte {
	flags := uint16(nlmFRequest)
	if dump {
		flags |= nlmFDump
	}
	const l = nlmsgHdrLen + ifinfomsgLen + 8
	start := len(b)
	b = append(b, make([]byte, l)...)
	h := b[start:]
	binary.NativeEndian.PutUint32(h[0:4], l)
	binary.NativeEndian.PutUint16(h[4:6], rtmGetLink)
	binary.NativeEndian.PutUint16(h[6:8], flags)
	binary.NativeEndian.PutUint32(h[8:12], seq)
	// ifinfomsg: family AF_UNSPEC, index.
	binary.NativeEndian.PutUint32(h[nlmsgHdrLen+4:nlmsgHdrLen+8], uint32(int32(index)))
	at := h[nlmsgHdrLen+ifinfomsgLen:]
	binary.NativeEndian.PutUint16(at[0:2], 8)
	binary.NativeEndian.PutUint16(at[2:4], iflaExtMask)
	binary.NativeEndian.PutUint32(at[4:8], rtextFilterSkipStats)
	return b
}

// maxErrno is the largest errno the kernel reports (MAX_ERRNO).
const maxErrno = 4095

// nlError returns the errno of an NLMSG_ERROR payload (0 is an ACK), or -1
// for a payload that is no kernel error: too short, or not a negated errno
// in 0..MAX_ERRNO.
func nlError(p []byte) int32 {
	if len(p) < 4 {
		return -1
	}
	e := -int64(int32(binary.NativeEndian.Uint32(p[0:4])))
	if e < 0 || e > maxErrno {
		return -1
	}
	return int32(e)
}

// errnoOf turns a non-zero nlError result into the error it stands for.
func errnoOf(e int32) (syscall.Errno, error) {
	if e < 0 {
		return 0, errMalformed
	}
	return syscall.Errno(e), nil
}

// getLinkReply handles one datagram read after an RTM_GETLINK request with
// sequence seq: done is true when it answered the request (m is the link,
// valid until m's next use, or errno the kernel's refusal), false for a
// datagram to skip (a stale reply or an ACK). Only its first message counts:
// the kernel answers a request for one link in a datagram of its own.
func getLinkReply(b []byte, seq uint32, m *linkMsg) (_ *linkMsg, errno syscall.Errno, done bool, err error) {
	typ, _, s, p, _, err := nextMsg(b)
	if err != nil {
		return nil, 0, true, err
	}
	if s != seq {
		return nil, 0, false, nil // a stale reply
	}
	switch typ {
	case nlmsgError:
		if e := nlError(p); e != 0 {
			errno, err := errnoOf(e)
			return nil, errno, true, err
		}
		return nil, 0, false, nil
	case rtmNewLink:
		if err := parseLink(typ, p, m); err != nil {
			return nil, 0, true, err
		}
		return m, 0, true, nil
	}
	return nil, 0, false, nil
}

// dumpReply handles one datagram of the reply to the link dump with
// sequence seq: it calls fn for each link in it (m is reused), sets *intr
// when the kernel flagged the dump interrupted (NLM_F_DUMP_INTR), and
// reports whether the dump ended (NLMSG_DONE, an error, or a malformed
// datagram). Messages of other sequences are skipped; a link message that
// does not decode is skipped too (the next dump corrects the table).
func dumpReply(b []byte, seq uint32, intr *bool, m *linkMsg, fn func(*linkMsg)) (done bool, err error) {
	for len(b) > 0 {
		typ, flags, s, p, rest, err := nextMsg(b)
		if err != nil {
			return true, err
		}
		b = rest
		if s != seq {
			continue
		}
		if flags&nlmFDumpIntr != 0 {
			*intr = true
		}
		switch typ {
		case nlmsgDone:
			return true, nil
		case nlmsgError:
			if e := nlError(p); e != 0 {
				errno, err := errnoOf(e)
				if err == nil {
					err = errno
				}
				return true, err
			}
		case rtmNewLink:
			if err := parseLink(typ, p, m); err == nil {
				fn(m)
			}
		}
	}
	return false, nil
}
