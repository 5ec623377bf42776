package failovertest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
)

// The Recorder models where addresses are, records each call, fails calls
// on demand and flags a removal that leaves an address nowhere.
func ExampleRecorder() {
	ctx := context.Background()
	svc := netip.MustParsePrefix("198.18.10.50/24")
	eth2, eth3 := netpulse.Interface{Index: 12, Name: "eth2"}, netpulse.Interface{Index: 13, Name: "eth3"}

	rec := failovertest.NewRecorder()
	rec.Place("eth3", svc) // already there when the program starts
	rec.SetFail(func(op string, ifc netpulse.Interface, p netip.Prefix) error {
		if op == failover.OpAnnounce {
			return errors.New("link down")
		}
		return nil
	})
	_ = rec.AddAddress(ctx, eth2, svc)
	_ = rec.RemoveAddress(ctx, eth3, svc)
	_ = rec.SteerReturn(ctx, eth2, []netip.Prefix{svc})
	_ = rec.Announce(ctx, eth2, []netip.Prefix{svc})
	_ = rec.RemoveAddress(ctx, eth2, svc) // the last copy

	for _, c := range rec.Calls() {
		fmt.Println(c.Op, c.Interface.Name, c.Address, c.Addresses, c.Err)
	}
	fmt.Println("holders:", rec.Holders(svc), "steered:", rec.Steered(svc))
	fmt.Println("violations:", rec.Violations())
	// Output:
	// add eth2 198.18.10.50/24 [] <nil>
	// remove eth3 198.18.10.50/24 [] <nil>
	// steer eth2 invalid Prefix [198.18.10.50/24] <nil>
	// announce eth2 invalid Prefix [198.18.10.50/24] link down
	// remove eth2 198.18.10.50/24 [] <nil>
	// holders: [] steered: eth2
	// violations: [198.18.10.50/24 removed from eth2, its last holder]
}
