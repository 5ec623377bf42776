package failover_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
)

// A group of a primary and a standby, with the recording fake as actuator
// (failover.Open opens the kernel's when Config.Actuator is nil). The
// evidence would come from linkmon and ipmon through a health.Monitor;
// here it is fed by hand.
func Example() {
	rec := failovertest.NewRecorder()
	e, err := failover.Open(context.Background(), &failover.Config{
		Actuator: rec,
		Groups: []failover.GroupConfig{{
			Primary:   "eth3",
			Standbys:  []string{"eth2"},
			Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24")},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close() // closes the actuator too
	events := e.Subscribe(context.Background())
	// The evidence a health.Monitor would feed (Monitor.Feed): here, the
	// link level only.
	link := func(name string, carrier bool) {
		st := netpulse.StateDown
		if carrier {
			st = netpulse.StateUp
		}
		e.Observe(netpulse.Evidence{Interface: netpulse.Interface{Name: name}, Link: st})
	}
	// print prints the events up to the next health change (untilMove
	// false) or move.
	print := func(untilMove bool) {
		for ev := range events {
			switch ev := ev.(type) {
			case *failover.HealthEvent:
				if ev.Initial {
					fmt.Printf("%s starts %s\n", ev.Interface.Name, ev.To)
					continue
				}
				fmt.Printf("health %s: %s -> %s (%s)\n", ev.Interface.Name, ev.From, ev.To, ev.Reason)
				if !untilMove {
					return
				}
			case *failover.SwitchEvent:
				fmt.Printf("moved %v from %q to %q (%s)\n", ev.Addresses, ev.From.Name, ev.To.Name, ev.Reason)
				return
			}
		}
	}

	link("eth3", true)
	print(true)
	link("eth2", true)
	print(false)
	link("eth3", false) // carrier lost on the primary
	print(true)
	fmt.Println("holders:", rec.Holders(netip.MustParsePrefix("198.18.10.50/24")))
	// Output:
	// eth3 starts unknown
	// eth2 starts unknown
	// health eth3: unknown -> up (link-up)
	// moved [198.18.10.50/24] from "" to "eth3" (initial)
	// health eth2: unknown -> up (link-up)
	// health eth3: up -> link-down (link-down)
	// moved [198.18.10.50/24] from "eth3" to "eth2" (link-down)
	// holders: [eth2]
}
