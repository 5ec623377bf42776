package routetest_test

import (
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse/route"
	"github.com/netpulse/netpulse/route/routetest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestViewSelectsWithHealth(t *testing.T) {
	v := routetest.NewView()
	ch, cancel := v.Subscribe()
	defer cancel()
	v.SetLink(route.Link{Interface: route.Interface{Index: 3, Name: "eth3"}, Up: true, Carrier: true})
	v.SetLink(route.Link{Interface: route.Interface{Index: 2, Name: "eth2"}, Up: true, Carrier: true})
	v.SetPreference([]string{"eth3", "eth2"})
	subnet := netip.MustParsePrefix("198.18.10.0/24")
	for _, idx := range []int{3, 2} {
		v.AddRoute(route.Route{Dst: subnet, Table: route.TableMain, Type: route.TypeUnicast,
			Nexthops: []route.Nexthop{{Interface: route.Interface{Index: idx}, Weight: 1}}})
	}
	<-ch
	dst := netip.MustParseAddr("198.18.10.100")
	r, ok := v.Lookup(dst)
	require.True(t, ok)
	require.Equal(t, "eth3", r.Interface().Name)

	var h routetest.Health
	h.SetIP(3, route.StateDown)
	s, err := v.Select(dst, &h)
	require.NoError(t, err)
	require.Equal(t, 2, s.Interface.Index)
	h.SetLink(2, route.StateDown)
	_, err = v.Select(dst, &h)
	require.ErrorIs(t, err, route.ErrNoHealthyRoute)
	require.Len(t, v.Routes(), 2)
}

func TestSteererRecords(t *testing.T) {
	s := routetest.NewSteerer(1)
	s.SetLinkState(3, route.StateDown)
	s.SetIPState(3, route.StateUp)
	require.Equal(t, route.Health{Link: route.StateDown, IP: route.StateUp}, s.Health(3))
	require.Len(t, s.Calls(), 2)
	require.True(t, s.Calls()[0].LinkSet)
	require.True(t, s.Emit(route.Event{Reason: route.ReasonLinkDown}))
	require.False(t, s.Emit(route.Event{}), "buffer full")
	require.Equal(t, route.ReasonLinkDown, (<-s.Events()).Reason)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.False(t, s.Emit(route.Event{}))
}
