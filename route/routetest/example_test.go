package routetest_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/route"
	"github.com/netpulse/netpulse/route/routetest"
)

// A consumer's code under test reads a View and feeds a Steerer; the
// fakes stand in for both without a kernel: the View answers with the
// route package's own selection, the Steerer keeps the health its
// evidence gives and delivers the events the test injects.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := routetest.NewView()
	defer v.Close()
	changed := v.Subscribe(ctx)
	v.SetLink(route.Link{Interface: netpulse.Interface{Index: 1, Name: "eth0"}, Up: true, Carrier: true})
	v.SetLink(route.Link{Interface: netpulse.Interface{Index: 2, Name: "eth1"}, Up: true, Carrier: true})
	for _, idx := range []int{1, 2} {
		v.AddRoute(route.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: route.TableMain, Metric: uint32(100 * idx),
			Protocol: route.ProtocolDHCP, Type: route.TypeUnicast,
			Nexthops: []route.Nexthop{{Interface: netpulse.Interface{Index: idx}, Gateway: netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", idx)), Weight: 1}}})
	}
	ev := <-changed // coalesced: fewer events than updates
	fmt.Printf("%T\n", ev)
	for _, r := range v.Routes() {
		fmt.Println(r)
	}

	st := routetest.NewSteerer(1)
	defer st.Close()
	events := st.Subscribe(ctx)
	st.Observe(netpulse.Evidence{Interface: netpulse.Interface{Index: 1, Name: "eth0"}, Link: netpulse.StateUp, IP: netpulse.VerdictDead})
	s, _ := v.Select(netip.MustParseAddr("198.18.99.1"), st)
	fmt.Println("health:", st.Health(1), "select:", s.Interface, "via", s.Gateway)

	st.Emit(&route.SteerEvent{Dst: netip.MustParsePrefix("0.0.0.0/0"), Interface: s.Interface,
		Previous: netpulse.Interface{Index: 1, Name: "eth0"}, Reason: netpulse.ReasonIPDown})
	se := (<-events).(*route.SteerEvent)
	fmt.Println("event:", se.Dst, se.Previous, "->", se.Interface, se.Reason)
	// Output:
	// *route.ViewEvent
	// default via 198.18.1.1 dev eth0 proto dhcp metric 100
	// default via 198.18.2.1 dev eth1 proto dhcp metric 200
	// health: ip-down select: eth1 via 198.18.2.1
	// event: 0.0.0.0/0 eth0 -> eth1 ip-down
}
