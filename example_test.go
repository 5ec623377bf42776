package netpulse_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
	"github.com/netpulse/netpulse/route"
	"github.com/netpulse/netpulse/route/routetest"
)

// The smallest complete wiring of the packages: eth3 is the primary and eth2
// the standby on one subnet; the first-hop router is each interface's
// polling target; one health Monitor turns both levels into each
// interface's evidence; the subnet route is steered away from an unhealthy
// interface; the service address fails over between them.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// Link level: carrier of eth2 and eth3.
	links, err := linkmon.Open(ctx, &linkmon.Config{
		Interfaces: []netpulse.Interface{{Name: "eth3"}, {Name: "eth2"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer links.Close()

	// IP level: the router probed out of each interface.
	probes, err := ipmon.Open(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer probes.Close()
	router := netip.MustParseAddr("198.18.10.1")
	for _, ifc := range []string{"eth3", "eth2"} {
		if err := probes.Add(ipmon.Target{Addr: router, Interface: ifc}); err != nil {
			log.Fatal(err)
		}
	}

	// Routing: never send to the subnet through an unhealthy interface.
	steer, err := route.OpenSteerer(ctx, &route.SteererConfig{
		Prefixes:   []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")},
		Interfaces: []string{"eth3", "eth2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer steer.Close()

	// Policy: the service address lives on eth3, or on eth2 when eth3 fails.
	engine, err := failover.Open(ctx, &failover.Config{
		Groups: []failover.GroupConfig{{
			Primary:   "eth3",
			Standbys:  []string{"eth2"},
			Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24")},
			Failback:  failover.FailbackAuto,
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	events := engine.Subscribe(ctx)

	// Health: each interface's evidence at both levels, with one meaning
	// of dead, fed to the Steerer and the engine.
	mon, err := health.New(ctx, &health.Config{Links: links, Probes: probes})
	if err != nil {
		log.Fatal(err)
	}
	defer mon.Close()
	if err := mon.Feed(ctx, steer); err != nil {
		log.Fatal(err)
	}
	if err := mon.Feed(ctx, engine); err != nil {
		log.Fatal(err)
	}

	// What happened, until Ctrl-C (which closes the subscription).
	for ev := range events {
		switch ev := ev.(type) {
		case *failover.HealthEvent:
			fmt.Printf("%s: %s (%s)\n", ev.Interface.Name, ev.To, ev.Failure)
		case *failover.SwitchEvent:
			fmt.Printf("%v moved %s -> %s: %s\n", ev.Addresses, ev.From.Name, ev.To.Name, ev.Reason)
		}
	}
	fmt.Print(engine.Snapshot())
}

// The same wiring without a kernel, on the packages' fakes: linkmontest and
// ipmontest stand for linkmon and ipmon, routetest's Steerer for route's,
// failovertest's Recorder for the kernel actuator. The primary loses its
// IP path with its link up (the address moves to the standby), then the
// standby loses its carrier (the address moves back).
func Example_fakes() {
	ctx := context.Background()
	links := linkmontest.New(linkmontest.Link(3, "eth3", true), linkmontest.Link(2, "eth2", true))
	defer links.Close()
	probes := ipmontest.New(nil)
	defer probes.Close()
	router := ipmon.Target{Addr: netip.MustParseAddr("198.18.10.1"), Interface: "eth3"}
	if err := probes.Add(router); err != nil {
		log.Fatal(err)
	}
	steer := routetest.NewSteerer(0)
	defer steer.Close()
	rec := failovertest.NewRecorder()
	engine, err := failover.Open(ctx, &failover.Config{
		Actuator: rec,
		Groups: []failover.GroupConfig{{
			Primary:   "eth3",
			Standbys:  []string{"eth2"},
			Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24")},
			Failback:  failover.FailbackManual,
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	events := engine.Subscribe(ctx)

	mon, err := health.New(ctx, &health.Config{Links: links, Probes: probes})
	if err != nil {
		log.Fatal(err)
	}
	defer mon.Close()
	if err := mon.Feed(ctx, steer); err != nil {
		log.Fatal(err)
	}
	if err := mon.Feed(ctx, engine); err != nil {
		log.Fatal(err)
	}

	// wait prints the engine's moves until done is true.
	healthOf := map[string]netpulse.Health{}
	active := ""
	wait := func(done func() bool) {
		for !done() {
			switch ev := (<-events).(type) {
			case *failover.HealthEvent:
				healthOf[ev.Interface.Name] = ev.To
			case *failover.SwitchEvent:
				active = ev.To.Name
				fmt.Printf("%v moved from %q to %q (%s)\n", ev.Addresses, ev.From.Name, ev.To.Name, ev.Reason)
			}
		}
	}
	wait(func() bool { return active == "eth3" && healthOf["eth2"] == netpulse.HealthUp })
	_ = probes.Set(router, ipmon.TargetUp, 0)
	_ = probes.Set(router, ipmon.TargetDown, 0) // answered, then stopped: dead
	wait(func() bool { return active == "eth2" })
	_ = probes.Set(router, ipmon.TargetUp, 0) // back, but failback is manual
	wait(func() bool { return healthOf["eth3"] == netpulse.HealthUp })
	_ = links.SetCarrier("eth2", false)
	wait(func() bool { return active == "eth3" })
	fmt.Println("holders:", rec.Holders(netip.MustParsePrefix("198.18.10.50/24")))
	// Output:
	// [198.18.10.50/24] moved from "" to "eth3" (initial)
	// [198.18.10.50/24] moved from "eth3" to "eth2" (ip-down)
	// [198.18.10.50/24] moved from "eth2" to "eth3" (link-down)
	// holders: [eth3]
}
