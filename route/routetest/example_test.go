package routetest_test

import (
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse/route"
	"github.com/netpulse/netpulse/route/routetest"
)

// A consumer's code under test reads a View and feeds a Steerer; the
// fakes stand in for both without a kernel: the View answers with the
// route package's own selection, the Steerer records the health it is
// fed and delivers the events the test injects.
func Example() {
	v := routetest.NewView()
	changed, cancel := v.Subscribe()
	defer cancel()
	v.SetLink(route.Link{Interface: route.Interface{Index: 1, Name: "eth0"}, Up: true, Carrier: true})
	v.SetLink(route.Link{Interface: route.Interface{Index: 2, Name: "eth1"}, Up: true, Carrier: true})
	for _, idx := range []int{1, 2} {
		v.AddRoute(route.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: route.TableMain, Metric: uint32(100 * idx),
			Protocol: route.ProtocolDHCP, Type: route.TypeUnicast,
			Nexthops: []route.Nexthop{{Interface: route.Interface{Index: idx}, Gateway: netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", idx)), Weight: 1}}})
	}
	<-changed // coalesced: one notification for the updates above
	for _, r := range v.Routes() {
		fmt.Println(r)
	}

	st := routetest.NewSteerer(1)
	defer st.Close()
	st.SetIPState(1, route.StateDown)
	s, _ := v.Select(netip.MustParseAddr("198.18.99.1"), st)
	fmt.Println("select:", s.Interface, "via", s.Gateway)
	fmt.Printf("calls: %+v\n", st.Calls())

	st.Emit(route.Event{Dst: netip.MustParsePrefix("0.0.0.0/0"), Interface: s.Interface,
		Previous: route.Interface{Index: 1, Name: "eth0"}, Reason: route.ReasonIPDown})
	ev := <-st.Events()
	fmt.Println("event:", ev.Dst, ev.Previous, "->", ev.Interface, ev.Reason)
	// Output:
	// default via 198.18.1.1 dev eth0 proto dhcp metric 100
	// default via 198.18.2.1 dev eth1 proto dhcp metric 200
	// select: eth1 via 198.18.2.1
	// calls: [{Index:1 Link:unknown IP:down LinkSet:false IPSet:true}]
	// event: 0.0.0.0/0 eth0 -> eth1 ip-down
}
