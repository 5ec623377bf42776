package routetest_test

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/route"
	"github.com/netpulse/netpulse/route/routetest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestViewSelectsWithHealth(t *testing.T) {
	v := routetest.NewView()
	defer v.Close()
	ch := v.Subscribe(context.Background())
	v.SetLink(route.Link{Interface: netpulse.Interface{Index: 3, Name: "eth3"}, Up: true, Carrier: true})
	v.SetLink(route.Link{Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Up: true, Carrier: true})
	v.SetPreference([]string{"eth3", "eth2"})
	subnet := netip.MustParsePrefix("198.18.10.0/24")
	for _, idx := range []int{3, 2} {
		v.AddRoute(route.Route{Dst: subnet, Table: route.TableMain, Type: route.TypeUnicast,
			Nexthops: []route.Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}})
	}
	require.IsType(t, &route.ViewEvent{}, <-ch)
	dst := netip.MustParseAddr("198.18.10.100")
	r, ok := v.Lookup(dst)
	require.True(t, ok)
	require.Equal(t, "eth3", r.Interface().Name)

	var h routetest.Health
	h.Set(3, netpulse.HealthIPDown)
	s, err := v.Select(dst, &h)
	require.NoError(t, err)
	require.Equal(t, 2, s.Interface.Index)
	h.Set(2, netpulse.HealthLinkDown)
	_, err = v.Select(dst, &h)
	require.ErrorIs(t, err, route.ErrNoHealthyRoute)
	require.Len(t, v.Routes(), 2)
	require.NoError(t, v.Close())
	for range ch {
	}
}

func TestSteererObserves(t *testing.T) {
	s := routetest.NewSteerer(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Subscribe(ctx)
	s.Observe(netpulse.Evidence{Interface: netpulse.Interface{Index: 3, Name: "eth3"}, Link: netpulse.StateDown, IP: netpulse.VerdictAlive})
	s.Observe(netpulse.Evidence{Interface: netpulse.Interface{Name: "gone"}, Link: netpulse.StateDown})
	s.Observe(netpulse.Evidence{Interface: netpulse.Interface{Index: 4, Name: "eth4"}, Link: netpulse.StateUp, IP: netpulse.VerdictUnverified})
	require.Equal(t, netpulse.HealthLinkDown, s.Health(3))
	require.Equal(t, netpulse.HealthUp, s.Health(4), "unverified is no evidence of a dead path")
	require.Equal(t, netpulse.HealthUnknown, s.Health(0), "index 0 applies to nothing")
	require.Len(t, s.Observed(), 3)
	s.SetHealth(4, netpulse.HealthDisabled)
	require.Equal(t, netpulse.HealthDisabled, s.Health(4))

	require.True(t, s.Emit(&route.SteerEvent{Reason: netpulse.ReasonLinkDown}))
	require.Equal(t, netpulse.ReasonLinkDown, (<-events).(*route.SteerEvent).Reason)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.False(t, s.Emit(&route.SteerEvent{}))
	_, open := <-events
	require.False(t, open, "Close closes the subscriptions")
}

// A subscription starts with the state the injected events left, as a
// route.Steerer's does.
func TestSteererReplaysState(t *testing.T) {
	s := routetest.NewSteerer(8)
	defer s.Close()
	dst := netip.MustParsePrefix("198.18.10.0/24")
	eth2, eth3 := netpulse.Interface{Index: 2, Name: "eth2"}, netpulse.Interface{Index: 3, Name: "eth3"}
	t0 := time.Now()
	require.True(t, s.Emit(&route.SteerEvent{Time: t0, Dst: dst, Interface: eth2, Previous: eth3, Reason: netpulse.ReasonIPDown}))
	require.True(t, s.Emit(&route.SteerEvent{Time: t0.Add(time.Second), Dst: dst, Interface: eth2, Previous: eth2, Reason: netpulse.ReasonReconciled}))
	failing := netpulse.Condition{Err: os.ErrPermission, Since: t0}
	require.True(t, s.Emit(&netpulse.ConditionEvent{Time: t0, Condition: failing, Previous: netpulse.Condition{OK: true}, Reason: netpulse.ReasonFailing}))
	events := s.Subscribe(context.Background())
	st := (<-events).(*route.SteerEvent)
	require.True(t, st.Initial)
	require.Equal(t, dst, st.Dst)
	require.Equal(t, eth2, st.Interface)
	require.Equal(t, eth2, st.Previous)
	require.Equal(t, netpulse.ReasonNone, st.Reason, "a reconciliation says not why the prefix is steered")
	require.Equal(t, t0, st.Time, "since the move to eth2")
	c := (<-events).(*netpulse.ConditionEvent)
	require.Equal(t, failing, c.Condition)
	select {
	case ev := <-events:
		t.Fatalf("only the state first, got %T", ev)
	default:
	}
	require.True(t, s.Emit(&route.SteerEvent{Time: t0.Add(2 * time.Second), Dst: dst, Interface: eth3, Previous: eth2, Reason: netpulse.ReasonRecovered}))
	require.False(t, (<-events).(*route.SteerEvent).Initial)
}

// A subscriber that stops reading loses events only past the queue's cap,
// and is told how many before the next event.
func TestSteererCountsDrops(t *testing.T) {
	s := routetest.NewSteerer(1)
	defer s.Close()
	events := s.Subscribe(context.Background())
	const extra = 5
	n := 1 + route.MaxQueuedEvents + extra
	for i := range n {
		require.True(t, s.Emit(&route.SteerEvent{Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)}))
	}
	var steer int
	var dropped uint64
	for steer+int(dropped) < n {
		switch ev := (<-events).(type) {
		case *route.SteerEvent:
			steer++
		case *netpulse.DropEvent:
			dropped += ev.Count
		}
	}
	// The channel holds one, the queue MaxQueuedEvents, and the forwarder
	// may hold one more in hand when the cap is reached.
	require.True(t, dropped == extra || dropped == extra-1, "dropped %d", dropped)
	require.Equal(t, n, steer+int(dropped))
}
