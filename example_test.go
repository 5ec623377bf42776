package netpulse_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"sync"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// The smallest complete wiring of the four packages: eth3 is the primary and
// eth2 the standby on one subnet; the first-hop router is each interface's
// polling target; the subnet route is steered away from an unhealthy
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
	// The Steerer takes each interface's evidence at both levels at once.
	var mu sync.Mutex
	known := map[string]netpulse.Evidence{} // by interface name
	observe := func(name string, update func(*netpulse.Evidence)) {
		mu.Lock()
		defer mu.Unlock()
		e := known[name]
		update(&e)
		known[name] = e
		steer.Observe(e)
	}
	go func() { // link level: carrier and admin state
		for x := range links.Subscribe(ctx) {
			ev, ok := x.(*linkmon.LinkEvent)
			if !ok {
				continue
			}
			st := netpulse.StateDown
			if ev.State.Present && ev.State.Carrier && ev.State.AdminUp {
				st = netpulse.StateUp
			}
			observe(ev.State.Name, func(e *netpulse.Evidence) {
				e.Interface = netpulse.Interface{Index: ev.State.Index, Name: ev.State.Name}
				e.Link = st
			})
		}
	}()
	go func() { // IP level: the verdict over each interface's targets
		for ev := range probes.Subscribe(ctx) {
			// One meaning of dead: ipmon reports a failing rule over targets
			// that never answered as unverified, which steers nothing.
			ip, ok := ev.(*ipmon.VerdictEvent)
			if !ok {
				continue
			}
			observe(ip.Interface.Name, func(e *netpulse.Evidence) { e.Interface.Name, e.IP = ip.Interface.Name, ip.Verdict })
		}
	}()

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
	if err := engine.FollowLinks(links.Subscribe(ctx)); err != nil {
		log.Fatal(err)
	}
	if err := engine.FollowIP(probes.Subscribe(ctx)); err != nil {
		log.Fatal(err)
	}

	// What happened, until Ctrl-C.
	for {
		select {
		case ev := <-events:
			switch ev := ev.(type) {
			case *failover.HealthEvent:
				fmt.Printf("%s: %s (%s)\n", ev.Interface.Name, ev.To, ev.Failure)
			case *failover.SwitchEvent:
				fmt.Printf("%v moved %s -> %s: %s\n", ev.Addresses, ev.From.Name, ev.To.Name, ev.Reason)
			}
		case <-ctx.Done():
			fmt.Print(engine.Snapshot())
			return
		}
	}
}
