package linkmon_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/netpulse/netpulse/linkmon"
)

// Watch two interfaces and act on carrier loss. An operator's "ip link set
// down" is told apart from a failure by AdminUp.
func ExampleWatcher_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := linkmon.Open(ctx, &linkmon.Config{
		Interfaces: []linkmon.Interface{{Name: "eth2"}, {Name: "eth3"}},
		DownDelay:  0, // act at once: this is a failure detector
		UpDelay:    500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for ev := range w.Subscribe(ctx) {
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
