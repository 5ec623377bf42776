//go:build linux

package linkmon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestCaptureReplies asks a real kernel for a link dump, one link and a
// link that does not exist, in a namespace with a loopback, a veth end, a
// bridge and an ifb, and checks that the recordings in testdata/replies
// decode the same way as these live replies (same links, same answers).
// With NETPULSE_UPDATE_SEEDS=1 it rewrites the recordings (the seed corpus
// of FuzzReplies).
func TestCaptureReplies(t *testing.T) {
	t.Parallel()
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	node, sw := pr.Node, pr.Peer
	require.NoError(t, node.Bridge("br0"))
	require.NoError(t, node.AddLinkOfKind("ifb0", "ifb"))
	idx, err := node.Index("eth2")
	require.NoError(t, err)

	var r *reqSock
	require.NoError(t, inNetNS(node.FD(), func() error { r, err = openReq(); return err }))
	defer r.close()
	record := func(dump bool, req func()) []byte {
		r.seq++
		rec := appendRecordingSeq(r.seq)
		r.out = r.out[:0]
		req()
		require.NoError(t, r.send())
		for {
			n, err := r.recv()
			require.NoError(t, err)
			d := append([]byte(nil), r.buf[:n]...)
			rec = appendRecording(rec, d)
			var intr bool
			var m linkMsg
			if dump {
				if done, _ := dumpReply(d, r.seq, &intr, &m, func(*linkMsg) {}); done {
					return rec
				}
			} else if _, _, done, _ := getLinkReply(d, r.seq, &m); done {
				return rec
			}
		}
	}
	live := map[string][]byte{
		"dump.bin":    record(true, func() { r.out = appendGetLink(r.out, r.seq, 0, true) }),
		"getlink.bin": record(false, func() { r.out = appendGetLink(r.out, r.seq, idx, false) }),
		"enodev.bin":  record(false, func() { r.out = appendGetLink(r.out, r.seq, 999_999, false) }),
	}
	// Notifications: eth2 loses carrier (its peer goes down), ifb0 is
	// deleted.
	var notif *notifSock
	require.NoError(t, inNetNS(node.FD(), func() error { notif, err = openNotif(1 << 20); return err }))
	require.NoError(t, sw.SetDown("p2"))
	require.NoError(t, node.DeleteLink("ifb0"))
	notifRec := appendRecordingSeq(0)
	require.NoError(t, notif.f.SetReadDeadline(time.Now().Add(10*time.Second)))
	var sawDown, sawDel bool
	for i := 0; !sawDown || !sawDel; i++ {
		require.Less(t, i, 100, "no carrier loss and deletion in 100 notifications")
		n, err := notif.recv()
		require.NoError(t, err, "notifications of eth2's carrier loss and ifb0's deletion")
		d := append([]byte(nil), notif.buf[:n]...)
		notifRec = appendRecording(notifRec, d)
		var m linkMsg
		notifLinks(d, &m, func(m *linkMsg) {
			sawDown = sawDown || (string(m.name) == "eth2" && m.flags&iffLowerUp == 0)
			sawDel = sawDel || (m.deleted && string(m.name) == "ifb0")
		})
	}
	notif.close()

	live["notif.bin"] = notifRec
	if os.Getenv("NETPULSE_UPDATE_SEEDS") == "1" {
		dir := filepath.Join("testdata", "replies")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, b := range live {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
	}
	recorded := readRecordings(t)
	decodeNotif := func(rec []byte) []string {
		var out []string
		_, dgs := splitRecording(rec)
		for _, d := range dgs {
			var m linkMsg
			notifLinks(d, &m, func(m *linkMsg) {
				if string(m.name) == "eth2" || string(m.name) == "ifb0" {
					out = append(out, fmt.Sprintf("%s deleted=%v carrier=%v", m.name, m.deleted, m.flags&iffLowerUp != 0))
				}
			})
		}
		return out
	}
	// The kernel may notify eth2's carrier loss (linkwatch) before or after
	// ifb0's deletion: the same notifications, in either order.
	require.ElementsMatch(t, decodeNotif(live["notif.bin"]), decodeNotif(recorded["notif.bin"]), "notifications, live vs recorded")
	delete(live, "notif.bin")
	for name, b := range live {
		_, ld := splitRecording(b)
		_, rd := splitRecording(recorded[name])
		require.Equal(t, len(ld), len(rd), "%s: datagrams, live vs recorded", name)
		var lm, rm linkMsg
		for i := range ld {
			var li, ri bool
			var ln, rn []string
			ldone, lerr := dumpReply(ld[i], seqOf(b), &li, &lm, func(m *linkMsg) { ln = append(ln, string(m.name)) })
			rdone, rerr := dumpReply(rd[i], seqOf(recorded[name]), &ri, &rm, func(m *linkMsg) { rn = append(rn, string(m.name)) })
			require.Equal(t, ldone, rdone, name)
			require.Equal(t, lerr, rerr, name)
			require.Equal(t, ln, rn, name)
		}
	}
}
