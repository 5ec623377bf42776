package linkmon

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Reply recordings (testdata/replies/*.bin, captured from the kernel by
// TestCaptureReplies): a request's sequence number, then each datagram the
// kernel answered with, as [uint32 length][bytes], native endian.

// appendRecordingSeq starts a recording of the replies to request seq.
func appendRecordingSeq(seq uint32) []byte { return binary.NativeEndian.AppendUint32(nil, seq) }

// seqOf returns a recording's sequence.
func seqOf(rec []byte) uint32 { s, _ := splitRecording(rec); return s }

func appendRecording(rec []byte, datagram []byte) []byte {
	rec = binary.NativeEndian.AppendUint32(rec, uint32(len(datagram)))
	return append(rec, datagram...)
}

// splitRecording returns the sequence and the datagrams of a recording; a
// truncated tail is dropped.
func splitRecording(rec []byte) (seq uint32, datagrams [][]byte) {
	if len(rec) < 4 {
		return 0, nil
	}
	seq, rec = binary.NativeEndian.Uint32(rec), rec[4:]
	for len(rec) >= 4 {
		n := int(binary.NativeEndian.Uint32(rec))
		rec = rec[4:]
		if n > len(rec) {
			break
		}
		datagrams, rec = append(datagrams, rec[:n]), rec[n:]
	}
	return seq, datagrams
}

func readRecordings(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "replies", "*.bin"))
	require.NoError(tb, err)
	require.NotEmpty(tb, files, "testdata/replies: run TestCaptureReplies with NETPULSE_UPDATE_SEEDS=1")
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(tb, err)
		out[filepath.Base(f)] = b
	}
	return out
}

// TestRecordedReplies: the kernel's own replies, recorded, decode as the
// kernel meant them.
func TestRecordedReplies(t *testing.T) {
	recs := readRecordings(t)

	seq, dgs := splitRecording(recs["dump.bin"])
	var names []string
	var intr, done bool
	var m linkMsg
	for _, d := range dgs {
		var err error
		done, err = dumpReply(d, seq, &intr, &m, func(m *linkMsg) { names = append(names, string(m.name)) })
		require.NoError(t, err)
		if done {
			break
		}
	}
	require.True(t, done, "the dump ends with NLMSG_DONE")
	require.False(t, intr)
	require.ElementsMatch(t, []string{"lo", "eth2", "br0", "ifb0"}, names)

	seq, dgs = splitRecording(recs["getlink.bin"])
	require.Len(t, dgs, 1)
	got, errno, done, err := getLinkReply(dgs[0], seq, &m)
	require.NoError(t, err)
	require.True(t, done)
	require.Zero(t, errno)
	require.Equal(t, "eth2", string(got.name))
	require.True(t, got.nicLike() == (got.iflink == got.index))

	seq, dgs = splitRecording(recs["enodev.bin"])
	require.Len(t, dgs, 1)
	got, errno, done, err = getLinkReply(dgs[0], seq, &m)
	require.NoError(t, err)
	require.True(t, done)
	require.Nil(t, got)
	require.Equal(t, "no such device", errno.Error())

	// Notifications: eth2's carrier loss and ifb0's deletion.
	_, dgs = splitRecording(recs["notif.bin"])
	var down, deleted bool
	for _, d := range dgs {
		require.Zero(t, notifLinks(d, &m, func(m *linkMsg) {
			down = down || (string(m.name) == "eth2" && !m.deleted && m.flags&iffLowerUp == 0)
			deleted = deleted || (string(m.name) == "ifb0" && m.deleted)
		}), "nothing dropped")
	}
	require.True(t, down && deleted)

	// A stale reply (another sequence) is skipped, not taken.
	_, _, done, err = getLinkReply(dgs[0], seq+1, &m)
	require.NoError(t, err)
	require.False(t, done)
}

// FuzzReplies feeds arbitrary datagram sequences, seeded with the kernel's
// recorded replies and notifications, to the loops that read request
// replies (dumps and single-link queries), to the notification loop and to
// the error decoder: no panic, a dump or query ends at the first datagram
// that ends it, every link handed on has an index and (unless deleted) a
// name, every errno is a kernel errno.
func FuzzReplies(f *testing.F) {
	for _, rec := range readRecordings(f) {
		f.Add(rec)
	}
	f.Add(appendRecording(appendRecordingSeq(0), linkTestBytes(3, "eth2", true)))
	f.Fuzz(func(t *testing.T, rec []byte) {
		seq, dgs := splitRecording(rec)
		var m linkMsg
		var intr bool
		for _, d := range dgs {
			if e := nlError(d); e < -1 || e > maxErrno {
				t.Fatalf("nlError %d", e)
			}
			done, err := dumpReply(d, seq, &intr, &m, func(m *linkMsg) {
				if m.index <= 0 || len(m.name) == 0 || m.deleted {
					t.Fatalf("dump handed on %+v", m)
				}
			})
			if err != nil && !done {
				t.Fatal("an error that does not end the dump")
			}
			if done {
				break
			}
		}
		for _, d := range dgs {
			msgs := 0
			for b := d; len(b) > 0; msgs++ {
				_, _, _, _, rest, err := nextMsg(b)
				if err != nil {
					break
				}
				b = rest
			}
			links := 0
			dropped := notifLinks(d, &m, func(m *linkMsg) {
				links++
				if m.index <= 0 || (!m.deleted && len(m.name) == 0) {
					t.Fatalf("notification handed on %+v", m)
				}
			})
			if dropped < 0 || links+dropped > msgs+1 {
				t.Fatalf("%d links and %d dropped of %d messages", links, dropped, msgs)
			}
		}
		for _, d := range dgs {
			got, errno, done, err := getLinkReply(d, seq, &m)
			n := 0
			for _, b := range []bool{got != nil, errno != 0, err != nil} {
				if b {
					n++
				}
			}
			switch {
			case !done && n != 0:
				t.Fatalf("a skipped datagram with a result: %v %v %v", got, errno, err)
			case done && n != 1:
				t.Fatalf("an answer must be one of link, errno, error: %v %v %v", got, errno, err)
			case errno > maxErrno:
				t.Fatalf("errno %d", errno)
			case got != nil && (got.index <= 0 || len(got.name) == 0):
				t.Fatalf("link %+v", got)
			}
			if done {
				break
			}
		}
	})
}
