package linkmon_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
)

// Watch two interfaces and act on carrier loss. An operator's "ip link set
// down" is told apart from a failure by AdminUp.
func ExampleWatcher_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := linkmon.Open(ctx, &linkmon.Config{
		Interfaces: []netpulse.Interface{{Name: "eth2"}, {Name: "eth3"}},
		DownDelay:  0, // act at once: this is a failure detector
		UpDelay:    500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for e := range w.Subscribe(ctx) {
		ev, ok := e.(*linkmon.LinkEvent)
		if !ok {
			continue // the watcher's condition, or drops: see Subscribe
		}
		s := ev.State
		switch {
		case ev.Initial:
			fmt.Printf("%s: carrier %v\n", s.Name, s.Carrier)
		case s.CarrierLost() && !ev.Previous.CarrierLost():
			fmt.Printf("%s: carrier lost\n", s.Name) // fail over here
		case !s.AdminUp && ev.Previous.AdminUp:
			fmt.Printf("%s: set down by an operator\n", s.Name)
		case s.Carrier && !ev.Previous.Carrier:
			fmt.Printf("%s: carrier back\n", s.Name)
		}
	}
}

// A consumer of a link stream handles the three kinds of events Subscribe
// sends. It runs here against linkmontest's fake, which delivers exactly
// what a Watcher delivers (no kernel, no privilege needed).
func ExampleLinkEvent() {
	src := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := src.Subscribe(ctx)

	_ = src.SetCarrier("eth2", false)
	src.Fail(&linkmon.Error{Op: "receive", Err: errors.New("socket closed")})
	src.Fail(nil)
	_ = src.SetCarrier("eth2", true)
	for range 6 {
		switch ev := (<-ch).(type) {
		case *linkmon.LinkEvent:
			if ev.Initial {
				fmt.Printf("%v link %v (the table)\n", ev.State.Interface(), ev.State.Link())
				continue
			}
			fmt.Printf("%v link %v (was %v)\n", ev.State.Interface(), ev.State.Link(), ev.Previous.Link())
		case *netpulse.ConditionEvent:
			fmt.Printf("watcher %v: ok=%v err=%v\n", ev.Reason, ev.Condition.OK, ev.Condition.Err)
		case *netpulse.DropEvent:
			fmt.Printf("fell behind: %d events dropped\n", ev.Count)
		}
	}
	// Output:
	// eth2 link up (the table)
	// eth3 link up (the table)
	// eth2 link down (was up)
	// watcher failing: ok=false err=linkmon: receive: socket closed
	// watcher working: ok=true err=<nil>
	// eth2 link up (was down)
}
