//go:build linux

package linkmon

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeReq returns a reqSock reading from one end of a datagram socketpair,
// and the other end to write "kernel" replies to.
func fakeReq(t *testing.T) (*reqSock, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return &reqSock{fd: fds[0], buf: make([]byte, 64<<10), seq: 41}, fds[1]
}

// reply turns an encoded message into a reply: sequence and flags set.
func reply(msg []byte, seq uint32, flags uint16) []byte {
	b := append([]byte(nil), msg...)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	return b
}

func done(seq uint32, flags uint16) []byte {
	b := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], nlmsgDone)
	return reply(b, seq, flags)
}

func TestDumpParsesPartsAndReportsInterruption(t *testing.T) {
	for _, intr := range []bool{false, true} {
		r, kernel := fakeReq(t)
		var fl uint16 = nlmFMulti
		if intr {
			fl |= nlmFDumpIntr
		}
		// A stale reply of an earlier request first: ignored.
		part1 := append(reply(linkTestBytes(9, "old", true), 7, nlmFMulti), reply(linkTestBytes(2, "eth2", true), 42, nlmFMulti)...)
		part2 := append(reply(linkTestBytes(3, "eth3", false), 42, fl), done(42, nlmFMulti)...)
		for _, p := range [][]byte{part1, part2} {
			_, err := unix.Write(kernel, p)
			require.NoError(t, err)
		}
		var got []string
		gotIntr, err := r.dump(func(m *linkMsg) { got = append(got, string(m.name)) })
		require.NoError(t, err)
		require.Equal(t, intr, gotIntr)
		require.Equal(t, []string{"eth2", "eth3"}, got)
		// The request went out on the socket.
		req := make([]byte, 64)
		n, err := unix.Read(kernel, req)
		require.NoError(t, err)
		typ, flags, seq, _, _, err := nextMsg(req[:n])
		require.NoError(t, err)
		require.Equal(t, uint16(rtmGetLink), typ)
		require.Equal(t, uint16(nlmFRequest|nlmFDump), flags)
		require.Equal(t, uint32(42), seq)
	}
}

func TestGetLinkErrors(t *testing.T) {
	r, kernel := fakeReq(t)
	e := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(e[0:4], uint32(len(e)))
	binary.NativeEndian.PutUint16(e[4:6], nlmsgError)
	enodev := int32(unix.ENODEV)
	binary.NativeEndian.PutUint32(e[nlmsgHdrLen:], uint32(-enodev))
	_, err := unix.Write(kernel, reply(e, 42, 0))
	require.NoError(t, err)
	_, errno, err := r.getLink(5)
	require.NoError(t, err)
	require.Equal(t, unix.ENODEV, errno)
}

// TestResyncRetriesInterruptedDump: an interrupted dump is retried, and only
// a complete one may remove links it does not list.
func TestResyncRetriesInterruptedDump(t *testing.T) {
	r, kfd := fakeReq(t)
	vc, err := (&Config{}).resolve()
	require.NoError(t, err)
	k := &kernel{cfg: vc, c: newCore(vc), req: r}
	defer k.c.stop()
	k.c.apply(msg(5, "eth5", true, true), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := k.c.subscribe(ctx)
	<-ch // initial eth5

	// Dump 42 is interrupted and misses eth5; dump 43 is complete.
	for _, p := range [][]byte{
		append(reply(linkTestBytes(2, "eth2", true), 42, nlmFMulti|nlmFDumpIntr), done(42, nlmFMulti|nlmFDumpIntr)...),
		append(append(reply(linkTestBytes(2, "eth2", true), 43, nlmFMulti), reply(linkTestBytes(5, "eth5", true), 43, nlmFMulti)...), done(43, nlmFMulti)...),
	} {
		_, err := unix.Write(kfd, p)
		require.NoError(t, err)
	}
	require.NoError(t, k.resync())
	snap := k.c.snapshot()
	require.Equal(t, uint64(2), snap.Counters.Dumps)
	require.Equal(t, uint64(1), snap.Counters.DumpRetries)
	require.Len(t, snap.Links, 2)
	for len(ch) > 0 {
		ev := recvLink(t, ch)
		require.True(t, ev.State.Present, "no link may be removed on an interrupted dump: %+v", ev.State)
	}

	// A complete dump without eth5 removes it.
	_, err = unix.Write(kfd, append(reply(linkTestBytes(2, "eth2", true), 44, nlmFMulti), done(44, nlmFMulti)...))
	require.NoError(t, err)
	require.NoError(t, k.resync())
	ev := recvLink(t, ch)
	require.Equal(t, "eth5", ev.State.Name)
	require.False(t, ev.State.Present)
}
