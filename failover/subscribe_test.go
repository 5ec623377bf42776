package failover_test

import (
	"context"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/stretchr/testify/require"
)

// TestSubscribe: every subscriber gets every event; one that falls behind
// blocks nobody, has its health events folded (counted in Coalesced), is
// told how many events the cap dropped (a DropEvent just before the next
// event), and still gets the latest health of every member; the
// channels close with ctx or with Close, and Close closes the Actuator.
func TestSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := failovertest.NewRecorder()
		e, err := failover.Open(context.Background(), &failover.Config{
			Groups:     []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}, NoHoldDown: true, NoMinDwell: true}},
			Actuator:   rec,
			EventQueue: 4,
		})
		require.NoError(t, err)
		defer e.Close()
		reader, stuck := e.Subscribe(context.Background()), e.Subscribe(context.Background())
		cctx, cancel := context.WithCancel(context.Background())
		cancelled := e.Subscribe(cctx)

		var read []netpulse.Event
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range reader {
				read = append(read, ev)
			}
		}()
		const flaps = 20
		feed(e).link("eth2", 0, true)
		for i := range flaps {
			feed(e).link("eth3", 0, i%2 == 1)
			synctest.Wait()
		}
		cancel()
		synctest.Wait()
		_, open := <-cancelled
		require.False(t, open, "closed when its ctx is done")

		// The stuck subscriber: drops announced, then the latest states.
		var got []netpulse.Event
		var lost uint64
		for len(got) == 0 || lost == 0 {
			synctest.Wait()
			select {
			case ev := <-stuck:
				if d, ok := ev.(*netpulse.DropEvent); ok {
					lost += d.Count
					require.False(t, d.Time.IsZero())
					continue
				}
				got = append(got, ev)
			default:
				t.Fatalf("stuck subscriber: no drop reported (got %d events)", len(got))
			}
		}
	drain:
		for {
			synctest.Wait()
			select {
			case ev := <-stuck:
				if d, ok := ev.(*netpulse.DropEvent); ok {
					lost += d.Count
					continue
				}
				got = append(got, ev)
			default:
				break drain
			}
		}
		require.NoError(t, e.Close())
		<-done
		_, open = <-stuck
		require.False(t, open, "closed by Close")
		require.True(t, rec.Closed(), "the engine closes its Actuator")

		// The reader saw every event, none lost.
		for _, ev := range read {
			_, isDrop := ev.(*netpulse.DropEvent)
			require.False(t, isDrop)
		}
		hs := healths(read)
		require.GreaterOrEqual(t, len(hs), flaps)
		var folded uint64
		for _, ev := range got {
			switch ev := ev.(type) {
			case *failover.HealthEvent:
				folded += uint64(ev.Coalesced)
			case *failover.GroupEvent:
				folded += uint64(ev.Coalesced)
			}
		}
		require.Equal(t, uint64(len(read)), uint64(len(got))+folded+lost, "stuck subscriber: delivered + folded + dropped = published")
		last := map[string]netpulse.Health{}
		for _, h := range hs {
			last[h.Interface.Name] = h.To
		}
		lastStuck := map[string]netpulse.Health{}
		for _, h := range healths(got) {
			lastStuck[h.Interface.Name] = h.To
		}
		require.Equal(t, last, lastStuck, "the latest health of every member arrives")
		require.Equal(t, netpulse.HealthUp, last["eth3"])
		require.Positive(t, e.Snapshot().Counters.EventsDropped)
	})
}

// TestSubscribeStartsWithState: a subscription first receives the health of
// every member and the state of every group (Initial set, From equal to
// To, in configured order), then the changes after it.
func TestSubscribeStartsWithState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := failover.Open(context.Background(), &failover.Config{
			Groups: []failover.GroupConfig{
				{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}},
				{Name: "b", Primary: "eth5", Addresses: []netip.Prefix{svc6}},
			},
			Actuator: failovertest.NewRecorder(),
		})
		require.NoError(t, err)
		defer e.Close()
		link := func(name string, carrier bool) {
			feed(e).link(name, 7, carrier)
			synctest.Wait()
		}
		link("eth3", true)
		link("eth2", false)
		link("eth5", false) // group b: no member up
		sub := e.Subscribe(context.Background())
		synctest.Wait()
		next := func() netpulse.Event {
			synctest.Wait()
			select {
			case ev := <-sub:
				return ev
			default:
				t.Fatal("no event")
				return nil
			}
		}
		for _, want := range []struct {
			name string
			h    netpulse.Health
		}{{"eth3", netpulse.HealthUp}, {"eth2", netpulse.HealthLinkDown}, {"eth5", netpulse.HealthLinkDown}} {
			h, ok := next().(*failover.HealthEvent)
			require.True(t, ok)
			require.True(t, h.Initial)
			require.Equal(t, want.name, h.Interface.Name)
			require.Equal(t, 7, h.Interface.Index, "the index the evidence gave")
			require.Equal(t, want.h, h.To)
			require.Equal(t, h.To, h.From, "an initial event is a state, not a transition")
			require.False(t, h.Time.IsZero())
		}
		for _, want := range []struct {
			group string
			down  bool
		}{{"eth3", false}, {"b", true}} {
			g, ok := next().(*failover.GroupEvent)
			require.True(t, ok)
			require.True(t, g.Initial)
			require.Equal(t, want.group, g.Group)
			require.Equal(t, want.down, g.SubnetDown)
		}
		synctest.Wait()
		select {
		case ev := <-sub:
			t.Fatalf("only the state first, got %T", ev)
		default:
		}
		link("eth2", true)
		h, ok := next().(*failover.HealthEvent)
		require.True(t, ok)
		require.False(t, h.Initial)
		require.Equal(t, "eth2", h.Interface.Name)
		require.Equal(t, netpulse.HealthLinkDown, h.From)
		require.Equal(t, netpulse.HealthUp, h.To)

		// After Close a subscription is closed at once.
		require.NoError(t, e.Close())
		_, open := <-e.Subscribe(context.Background())
		require.False(t, open)
	})
}

// hinter is a recording actuator that is a DriftHinter fed by the test
// and counts Verify calls.
type hinter struct {
	*failovertest.Recorder
	ch       chan failover.DriftHint
	verifies atomic.Int32
}

func (h *hinter) DriftHints(ctx context.Context) <-chan failover.DriftHint { return h.ch }

func (h *hinter) Verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (failover.Drift, error) {
	h.verifies.Add(1)
	return h.Recorder.Verify(ctx, ifc, addrs)
}

// TestDriftHintsConcern: a hint verifies at once only the group whose
// active member it is about: the deletions a move makes on the member it
// leaves verify nothing; a lost hint verifies everything.
func TestDriftHintsConcern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hinter{Recorder: failovertest.NewRecorder(), ch: make(chan failover.DriftHint)}
		e, err := failover.Open(context.Background(), &failover.Config{
			Groups:         []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}, NoHoldDown: true, NoMinDwell: true}},
			Actuator:       h,
			RepairInterval: time.Hour, // only hints verify
		})
		require.NoError(t, err)
		defer func() {
			close(h.ch)
			require.NoError(t, e.Close())
		}()
		for _, n := range []string{"eth3", "eth2"} {
			feed(e).link(n, ifIndex(n), true)
		}
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, h.Holders(svc4))
		hint := func(hi failover.DriftHint) int32 {
			before := h.verifies.Load()
			h.ch <- hi
			synctest.Wait()
			return h.verifies.Load() - before
		}
		eth2, eth3 := netpulse.Interface{Index: ifIndex("eth2")}, netpulse.Interface{Index: ifIndex("eth3")}
		require.Zero(t, hint(failover.DriftHint{Interface: eth2, Address: svc4.Addr()}), "the member left: no verification")
		require.Zero(t, hint(failover.DriftHint{Interface: eth3, Address: netip.MustParseAddr("198.18.10.9")}), "another address")
		require.Equal(t, int32(1), hint(failover.DriftHint{Interface: eth3, Address: svc4.Addr()}), "the active member's address")
		require.Equal(t, int32(1), hint(failover.DriftHint{Lost: true}), "lost notifications")
	})
}

// TestInvalidArguments: unknown groups, interfaces and failback words are
// invalid arguments (os.ErrInvalid) and keep their own sentinels.
func TestInvalidArguments(t *testing.T) {
	e, err := failover.Open(context.Background(), &failover.Config{
		Groups:   []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}}},
		Actuator: failovertest.NewRecorder(),
	})
	require.NoError(t, err)
	defer e.Close()
	err = e.Switch("nope", "eth2")
	require.ErrorIs(t, err, failover.ErrUnknownGroup)
	require.ErrorIs(t, err, os.ErrInvalid)
	err = e.Disable("eth9")
	require.ErrorIs(t, err, failover.ErrNotMember)
	require.ErrorIs(t, err, os.ErrInvalid)
	_, err = failover.ParseFailbackPolicy("sometimes")
	require.ErrorIs(t, err, os.ErrInvalid)
}
