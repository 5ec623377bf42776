package failover_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/stretchr/testify/require"
)

// TestSubscribe: every subscriber gets every event; one that falls behind
// blocks nobody, is told how many events it lost (a DropEvent just before
// the next event), and still gets the latest health of every member; the
// channels close with ctx or with Close, and Close closes the Actuator.
func TestSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := failovertest.NewRecorder()
		e, err := failover.New(context.Background(), &failover.Config{
			Groups:      []failover.GroupConfig{{Primary: "eth3", Standbys: []string{"eth2"}, Addresses: []netip.Prefix{svc4}, NoHoldDown: true, NoMinDwell: true}},
			Actuator:    rec,
			EventBuffer: 4,
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
		e.Link(failover.LinkEvidence{Interface: "eth2", Present: true, AdminUp: true, Carrier: true})
		for i := range flaps {
			e.Link(failover.LinkEvidence{Interface: "eth3", Present: true, AdminUp: true, Carrier: i%2 == 1})
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
		require.Equal(t, uint64(len(read)), uint64(len(got))+lost, "stuck subscriber: delivered + lost (folded or dropped) = published")
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
