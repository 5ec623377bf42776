package route_test

import (
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/route"
)

// Two interfaces on one subnet, eth3 activated first: the kernel uses
// eth3. With eth3's IP path down, Select names eth2; with both down it
// says why.
func ExampleTable_Select() {
	t := route.NewTable()
	t.SetLink(route.Link{Interface: netpulse.Interface{Index: 3, Name: "eth3"}, Up: true, Carrier: true})
	t.SetLink(route.Link{Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Up: true, Carrier: true})
	t.AddAddress(route.Address{Prefix: netip.MustParsePrefix("198.18.10.2/24"), Interface: netpulse.Interface{Index: 2}})
	subnet := netip.MustParsePrefix("198.18.10.0/24")
	for _, idx := range []int{3, 2} {
		t.Add(route.Route{Dst: subnet, Table: route.TableMain, Type: route.TypeUnicast, Protocol: route.ProtocolKernel,
			Nexthops: []route.Nexthop{{Interface: netpulse.Interface{Index: idx}, Weight: 1}}})
	}
	t.SetPreference([]string{"eth3", "eth2"})
	dst := netip.MustParseAddr("198.18.10.100")

	r, _ := t.Lookup(dst)
	fmt.Println("kernel:", r.Interface())

	health := route.HealthMap{3: netpulse.HealthIPDown}
	s, _ := t.Select(dst, health)
	fmt.Println("select:", s.Interface, "from", s.Src)

	health[2] = netpulse.HealthLinkDown
	_, err := t.Select(dst, health)
	fmt.Println(err)
	// Output:
	// kernel: eth3
	// select: eth2 from 198.18.10.2
	// route: no healthy route to 198.18.10.100: 198.18.10.0/24 dev eth3 proto kernel: ip-down; 198.18.10.0/24 dev eth2 proto kernel: link-down
}
