package failover_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/stretchr/testify/require"
)

func actionErrors(evs []netpulse.Event) []*failover.ActionErrorEvent {
	var out []*failover.ActionErrorEvent
	for _, ev := range evs {
		if a, ok := ev.(*failover.ActionErrorEvent); ok {
			out = append(out, a)
		}
	}
	return out
}

func countOps(calls []failovertest.Call, op string) int {
	n := 0
	for _, c := range calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// TestPermanentErrorNotRetried: EPERM on the first placement is reported
// once, at once, as permanent (event, status, counter) and not retried on
// a timer; a health change tries again, and success clears it.
func TestPermanentErrorNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		eperm := fmt.Errorf("add: %w", os.ErrPermission)
		r.rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
			if op == failover.OpAdd {
				return eperm
			}
			return nil
		})
		r.link("eth2", true) // the initial member eth3 is awaited
		r.link("eth3", true)
		evs := r.take()
		ae := actionErrors(evs)
		require.Len(t, ae, 1)
		require.True(t, ae[0].Permanent)
		require.Zero(t, ae[0].RetryIn)
		require.Equal(t, "add", ae[0].Op)
		require.ErrorIs(t, ae[0].Err, os.ErrPermission)

		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, 1, countOps(r.rec.Calls(), failover.OpAdd), "no retry loop")
		st := r.e.Snapshot()
		require.Equal(t, uint64(1), st.Counters.PermanentErrors)
		require.Equal(t, eperm.Error(), st.Groups[0].PermanentError)
		require.Contains(t, st.String(), "stopped by a permanent error")
		require.Empty(t, st.Groups[0].Active)

		// The privilege comes back; nothing happens until something
		// changes: then the placement succeeds and the error is cleared.
		r.rec.SetFail(nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, 1, countOps(r.rec.Calls(), failover.OpAdd))
		r.link("eth2", false)
		require.Equal(t, []string{"eth3"}, r.holders())
		st = r.e.Snapshot()
		require.Empty(t, st.Groups[0].PermanentError)
		require.Equal(t, "eth3", st.Groups[0].Active)
	})
}

// TestMissingMemberPermanent: the standby is gone (ENODEV-like) when the
// primary fails: reported at once, not retried; when the standby's
// health changes it is tried again.
func TestMissingMemberPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		defer r.close()
		r.start("eth3", "eth2")
		r.rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
			if ifc.Name == "eth2" && op == failover.OpAdd {
				return fmt.Errorf("eth2: %w", failover.ErrMemberMissing)
			}
			return nil
		})
		r.take()
		r.link("eth3", false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		ae := actionErrors(r.take())
		require.Len(t, ae, 1, "one report, no retries")
		require.True(t, ae[0].Permanent)
		require.Equal(t, []string{"eth3"}, r.holders(), "nothing lost")
		r.rec.SetFail(nil)
		r.link("eth2", false)
		r.link("eth2", true)
		require.Equal(t, []string{"eth2"}, r.holders())
	})
}

// TestRepairAfterRemovalBehindBack: an address removed from the active
// member behind the engine's back is put back within RepairInterval,
// steered and announced again, counted and reported; twice.
func TestRepairAfterRemovalBehindBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, func(c *failover.Config) { c.RepairInterval = 100 * time.Millisecond })
		defer r.close()
		r.start("eth3", "eth2")
		r.take()
		for i := 1; i <= 2; i++ {
			r.rec.Reset()
			r.rec.Drop("eth3", svc4)
			removed := time.Now()
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			require.Equal(t, []string{"eth3"}, r.holders())
			require.Equal(t, "eth3", r.rec.Steered(svc4))
			calls := r.rec.Calls()
			require.Equal(t, 1, countOps(calls, failover.OpAdd))
			require.Equal(t, 1, countOps(calls, failover.OpSteer))
			require.Equal(t, 1, countOps(calls, failover.OpAnnounce))
			var rep []*failover.RepairEvent
			for _, ev := range r.take() {
				if re, ok := ev.(*failover.RepairEvent); ok {
					rep = append(rep, re)
				}
			}
			require.Len(t, rep, 1)
			require.NoError(t, rep[0].Err)
			require.Equal(t, []netip.Prefix{svc4}, rep[0].Missing.Addresses)
			require.True(t, rep[0].Missing.ReturnPath)
			require.LessOrEqual(t, rep[0].Time.Sub(removed), 100*time.Millisecond)
			require.Equal(t, uint64(i), r.e.Snapshot().Counters.Repairs)
		}
		// Nothing missing: verification changes nothing.
		r.rec.Reset()
		time.Sleep(time.Second)
		synctest.Wait()
		require.Empty(t, r.rec.Calls())
	})
}

// TestNoRepair: with NoRepair nothing is put back.
func TestNoRepair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, func(c *failover.Config) { c.NoRepair = true })
		defer r.close()
		r.start("eth3", "eth2")
		r.rec.Drop("eth3", svc4)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Empty(t, r.rec.Holders(svc4))
		require.Zero(t, r.e.Snapshot().Counters.Repairs)
	})
}

// conflictActuator is a Recorder that also checks conflicts: held maps an
// address to the holder it reports.
type conflictActuator struct {
	*failovertest.Recorder
	mu     sync.Mutex
	held   map[netip.Addr]*failover.ConflictError
	checks []bool // the probe flag of each check
}

func (c *conflictActuator) CheckConflict(ctx context.Context, target netpulse.Interface, addrs []netip.Prefix, members []netpulse.Interface, probe bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks = append(c.checks, probe)
	for _, p := range addrs {
		if ce := c.held[p.Addr()]; ce != nil && (probe || ce.Interface != (netpulse.Interface{})) {
			return ce
		}
	}
	return nil
}

// TestConflictBlocksPlacement: an address held by another host is not
// taken (a permanent "conflict" error naming the holder), and once it is
// free the placement probes again; later moves check only locally.
func TestConflictBlocksPlacement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &conflictActuator{Recorder: failovertest.NewRecorder(), held: map[netip.Addr]*failover.ConflictError{
			svc4.Addr(): {Address: svc4, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}, Via: netpulse.Interface{Name: "eth3"}},
		}}
		e, err := failover.Open(context.Background(), &failover.Config{Groups: []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"},
			Addresses: []netip.Prefix{svc4, svc6}, NoMinDwell: true, NoHoldDown: true}}, Actuator: ca})
		require.NoError(t, err)
		var evs []netpulse.Event
		var emu sync.Mutex
		done := make(chan struct{})
		sub := e.Subscribe(context.Background())
		go func() {
			defer close(done)
			for ev := range sub {
				emu.Lock()
				evs = append(evs, ev)
				emu.Unlock()
			}
		}()
		defer func() { e.Close(); <-done }()
		for _, n := range []string{"eth3", "eth2"} {
			feed(e).link(n, 0, true)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		require.Empty(t, ca.Holders(svc4), "a held address is not taken")
		require.Empty(t, ca.Holders(svc6), "nor the group's other addresses")
		emu.Lock()
		ae := actionErrors(evs)
		emu.Unlock()
		require.Len(t, ae, 1)
		require.Equal(t, "conflict", ae[0].Op)
		require.True(t, ae[0].Permanent)
		require.Contains(t, ae[0].Err.Error(), "198.18.10.50")
		require.Contains(t, ae[0].Err.Error(), "02:00:00:00:00:09")
		require.Equal(t, svc4, ae[0].Address)
		st := e.Snapshot()
		require.False(t, st.Groups[0].MovePending, "nothing was touched")
		require.Contains(t, st.Groups[0].PermanentError, "198.18.10.50")

		// The other host lets it go; the next change places it (probing
		// again), and a later failover checks only locally.
		ca.mu.Lock()
		delete(ca.held, svc4.Addr())
		ca.mu.Unlock()
		feed(e).link("eth2", 0, false)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, ca.Holders(svc4))
		feed(e).link("eth2", 0, true)
		feed(e).link("eth3", 0, false)
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, ca.Holders(svc4))
		ca.mu.Lock()
		defer ca.mu.Unlock()
		require.Equal(t, []bool{true, true, false}, ca.checks, "probe before the first placement only")
	})
}

// TestSurvivorsAnnounced: when a member fails (link or IP), the members that
// are up announce their own addresses from their own interfaces, after the
// move's first announcement, AnnounceCount rounds AnnounceInterval apart;
// the member that lost its link and a member that is down do not.
func TestSurvivorsAnnounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{Primary: "eth3", Standbys: []string{"eth2", "eth4", "eth5"}, AnnounceCount: 3}, nil)
		defer r.close()
		r.start("eth3", "eth2", "eth4", "eth5")
		r.link("eth5", false)
		time.Sleep(time.Second)
		synctest.Wait()
		r.rec.Reset()
		before := r.e.Snapshot().Counters.SurvivorAnnouncements
		require.Equal(t, uint64(9), before, "eth5's loss: eth3, eth2 and eth4, 3 rounds")
		lost := time.Now()
		r.link("eth3", false)
		time.Sleep(time.Second)
		synctest.Wait()
		calls := r.rec.Calls()
		var own []failovertest.Call
		firstAnnounce := -1
		for i, c := range calls {
			switch c.Op {
			case failover.OpAnnounceOwn:
				own = append(own, c)
				require.Greater(t, firstAnnounce, -1, "after the move's first announcement")
				require.Equal(t, []netip.Prefix{svc4, svc6}, c.Addresses, "the service addresses excepted")
			case failover.OpAnnounce:
				if firstAnnounce < 0 {
					firstAnnounce = i
				}
			}
		}
		require.Len(t, own, 6, "eth2 and eth4, 3 rounds")
		for i, c := range own {
			require.Equal(t, []string{"eth2", "eth4"}[i%2], c.Interface.Name)
			require.Equal(t, lost.Add(time.Duration(i/2)*failover.DefaultAnnounceInterval), c.Time)
		}
		require.Equal(t, before+6, r.e.Snapshot().Counters.SurvivorAnnouncements)
		// A standby that loses its link: the active's own addresses too.
		r.rec.Reset()
		r.link("eth4", false)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 3, countOps(r.rec.Calls(), failover.OpAnnounceOwn), "eth2 alone, 3 rounds")
		// An IP-only failure too (eth4 back up first, then its path dead).
		r.link("eth4", true)
		r.ip("eth4", netpulse.VerdictAlive)
		r.rec.Reset()
		r.ip("eth4", netpulse.VerdictDead)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 3, countOps(r.rec.Calls(), failover.OpAnnounceOwn), "eth2 alone again")
		// A member that comes up announces nothing.
		r.rec.Reset()
		r.ip("eth4", netpulse.VerdictAlive)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, countOps(r.rec.Calls(), failover.OpAnnounceOwn))
	})
}

// TestNoSurvivorAnnouncements: off by Config.
func TestNoSurvivorAnnouncements(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, func(c *failover.Config) { c.NoSurvivorAnnouncements = true })
		defer r.close()
		r.start("eth3", "eth2")
		r.link("eth3", false)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, countOps(r.rec.Calls(), failover.OpAnnounceOwn))
	})
}

// shadowedVerifier reports the return path incomplete whatever is done.
type shadowedVerifier struct{ *failovertest.Recorder }

func (s shadowedVerifier) Verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (failover.Drift, error) {
	d, err := s.Recorder.Verify(ctx, ifc, addrs)
	d.ReturnPath = true
	return d, err
}

// TestRepairDoesNotFight: a return path that re-steering cannot complete
// is steered again three times in a row (shadowAfter: fewer may be a
// second deletion racing the repair), then reported once and not fought
// every RepairInterval; addresses are still repaired; a move checks again.
func TestRepairDoesNotFight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := failovertest.NewRecorder()
		e, err := failover.Open(context.Background(), &failover.Config{Groups: []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"},
			Addresses: []netip.Prefix{svc4}, NoMinDwell: true, NoHoldDown: true}}, Actuator: shadowedVerifier{rec}, RepairInterval: 100 * time.Millisecond})
		require.NoError(t, err)
		var evs []netpulse.Event
		var mu sync.Mutex
		done := make(chan struct{})
		sub := e.Subscribe(context.Background())
		go func() {
			defer close(done)
			for ev := range sub {
				mu.Lock()
				evs = append(evs, ev)
				mu.Unlock()
			}
		}()
		defer func() { e.Close(); <-done }()
		for _, n := range []string{"eth3", "eth2"} {
			feed(e).link(n, 0, true)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, 4, countOps(rec.Calls(), failover.OpSteer), "the move's steer and three repairs")
		mu.Lock()
		ae := actionErrors(evs)
		mu.Unlock()
		require.Len(t, ae, 1)
		require.Equal(t, "repair", ae[0].Op)
		require.Contains(t, ae[0].Err.Error(), "not repaired again until the next move")
		// Addresses are still repaired.
		rec.Drop("eth3", svc4)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, rec.Holders(svc4))
		// A move checks again: one more steer by the move, three by
		// repairs.
		rec.Reset()
		feed(e).link("eth3", 0, false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, 4, countOps(rec.Calls(), failover.OpSteer))
	})
}
