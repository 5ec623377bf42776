//go:build linux

package ipmon

import (
	"github.com/netpulse/netpulse"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sendErrTransport is the fake whose sends fail with err while it is set.
type sendErrTransport struct {
	*fakeTransport
	mu  sync.Mutex
	err error
}

func (s *sendErrTransport) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *sendErrTransport) send(tg *target, pkt []byte) error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.fakeTransport.send(tg, pkt)
}

// TestLocalSendErrorsAreNotMisses, a sequence in simulated time: a target
// up; then its sends fail with EAGAIN and ENOBUFS (a full local buffer)
// for ten detection bounds: it stays Up, no miss is counted, the errors are
// counted apart; sends work again and replies keep it up; then sends fail
// with ENETUNREACH (a dead path): it goes Down within the detection bound.
func TestLocalSendErrorsAreNotMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := (&Config{Interval: 10 * time.Millisecond, FailAfter: 3, RecoverAfter: 2}).withDefaults()
		require.NoError(t, err)
		f := &sendErrTransport{fakeTransport: newFake()}
		p, err := newPoller(c, f)
		require.NoError(t, err)
		defer func() {
			p.Close()
			time.Sleep(10 * f.delay)
		}()
		ch := p.Subscribe(t.Context())
		f.setAnswering(tgtA, true)
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		require.Equal(t, TargetUp, next[*TargetEvent](t, ch).State)
		bound := 3*10*time.Millisecond + 10*time.Millisecond

		for _, e := range []error{unix.EAGAIN, unix.ENOBUFS} {
			f.setErr(e)
			time.Sleep(5 * bound)
		}
		s := p.Snapshot()
		ts := s.Targets[0]
		require.Equal(t, TargetUp, ts.State)
		require.Zero(t, ts.ConsecutiveMisses)
		require.Zero(t, ts.WindowLost, "a local send error counted as loss")
		require.GreaterOrEqual(t, ts.LocalSendErrors, uint64(35), "about one a probe for 100 ms")
		require.Equal(t, ts.LocalSendErrors, s.LocalSendErrors)
		require.Equal(t, s.SendErrors, s.LocalSendErrors)
		for drained := false; !drained; {
			select {
			case ev := <-ch:
				ve, ok := ev.(*VerdictEvent)
				require.True(t, ok, "target event while sends failed locally: %+v", ev)
				require.Equal(t, netpulse.VerdictAlive, ve.Verdict)
			default:
				drained = true
			}
		}

		f.setErr(nil)
		time.Sleep(bound)
		rx := p.Snapshot().Targets[0].Received
		require.Greater(t, rx, ts.Received, "replies again after local congestion")

		f.setErr(unix.ENETUNREACH)
		failed := time.Now()
		ev := next[*TargetEvent](t, ch)
		require.Equal(t, TargetDown, ev.State)
		require.LessOrEqual(t, ev.Time.Sub(failed), bound)
		s2 := p.Snapshot()
		require.Equal(t, s.LocalSendErrors, s2.LocalSendErrors, "ENETUNREACH is not local")
		require.Greater(t, s2.SendErrors, s.SendErrors)
	})
}

// TestAbandonKeepsNextTimeout: abandoning the oldest pending probe moves
// the tracker on to the next one, whose timeout still counts.
func TestAbandonKeepsNextTimeout(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newTracker(Target{Addr: tgtA, Interface: "eth2", Interval: 10 * time.Millisecond, Timeout: 30 * time.Millisecond, FailAfter: 1, RecoverAfter: 1}, 10, now)
	n0 := tr.sendSlot(now, 0)
	n1 := tr.sendSlot(now.Add(10*time.Millisecond), 0)
	tr.nextSend = now.Add(time.Hour)
	tr.abandon(n0)
	require.Equal(t, n1, tr.oldest)
	require.Equal(t, now.Add(40*time.Millisecond), tr.deadline())
	changed, _ := tr.expire(now.Add(40 * time.Millisecond))
	require.True(t, changed)
	require.Equal(t, 1, tr.misses)
	require.Equal(t, 1, tr.windowLost)
	res, _ := tr.reply(n0, now.Add(41*time.Millisecond), 0)
	require.Equal(t, replyLate, res)
}

// TestLabFullSendBuffer fills the node's send buffer for real: eight
// targets on eth2 with no host behind them, probed every millisecond,
// leave their probes queued in the kernel's neighbour queue (raised with
// unres_qlen_bytes so that nothing is dropped there) until eth2's raw
// socket has no send buffer left, and every send on it fails (a raw
// socket's full buffer gives ENOBUFS: ip_append_data's sock_wmalloc past
// twice SO_SNDBUF), the live server's probes too. Without the
// classification the live target goes down here. The live target must not go down for it;
// the refusals are counted as local send errors. Once the dead targets are
// removed and the queue drains, its probes go out again.
func TestLabFullSendBuffer(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 42)
	require.NoError(t, err)
	require.NoError(t, pair.Node.Sysctl("net/ipv4/neigh/eth2/unres_qlen_bytes", "67108864"))
	p := openIn(t, pair.Node, Config{Interval: 10 * time.Millisecond, FailAfter: 3, RecoverAfter: 2})
	w := subscribe(t, p)
	require.NoError(t, p.Add(Target{Addr: pair.ServerAddr4, Interface: "eth2"}))
	w.waitTarget("eth2", pair.ServerAddr4, TargetUp, 5*time.Second)

	var dead []netip.Addr
	for i := range 8 {
		a := netip.AddrFrom4([4]byte{198, 18, 42, byte(50 + i)})
		dead = append(dead, a)
		require.NoError(t, p.Add(Target{Addr: a, Interface: "eth2", Interval: time.Millisecond, Timeout: 10 * time.Millisecond}))
	}
	require.Eventually(t, func() bool { return p.Snapshot().SendErrors > 100 }, 5*time.Second, 10*time.Millisecond,
		"the send buffer never filled")
	// A second of full buffer: the live target stays up.
	for _, ev := range w.drain(time.Second) {
		if ev.Target.Addr == pair.ServerAddr4 {
			require.Equal(t, TargetUp, ev.State, "local congestion took the live target down: %+v", ev)
		}
	}
	s := p.Snapshot()
	var live TargetStats
	for _, ts := range s.Targets {
		if ts.Target.Addr == pair.ServerAddr4 {
			live = ts
		}
	}
	t.Logf("sent %d, send errors %d (local %d); live target: %v, local send errors %d, misses %d",
		s.Sent, s.SendErrors, s.LocalSendErrors, live.State, live.LocalSendErrors, live.ConsecutiveMisses)
	require.Equal(t, TargetUp, live.State)
	require.Positive(t, live.LocalSendErrors, "the live target's sends never failed: the buffer was not full")

	for _, a := range dead {
		require.NoError(t, p.Remove(Target{Addr: a, Interface: "eth2"}))
	}
	// The kernel frees the queued probes when their neighbour entries fail
	// (three solicitations, a second apart).
	before := live.Received
	require.Eventually(t, func() bool {
		for _, ts := range p.Snapshot().Targets {
			if ts.Target.Addr == pair.ServerAddr4 {
				return ts.Received > before+10
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "no replies after the queue drained")
	require.Equal(t, TargetUp, p.Snapshot().Targets[0].State)
}
