package linkmontest_test

import (
	"context"
	"fmt"

	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
)

// A fake watcher with two links: the subscriber gets the table, then each
// scripted change as the real watcher would deliver it.
func Example() {
	src := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := src.Subscribe(ctx)

	_ = src.SetCarrier("eth3", false)
	_ = src.SetAdmin("eth2", false)
	_ = src.Remove("eth3")
	for range 5 {
		ev := (<-ch).(*linkmon.LinkEvent)
		s := ev.State
		fmt.Printf("initial=%v %s present=%v admin=%v carrier=%v oper=%v lost=%v\n",
			ev.Initial, s.Name, s.Present, s.AdminUp, s.Carrier, s.Oper, s.CarrierLost())
	}
	fmt.Println("links left:", len(src.Snapshot().Links))
	// Output:
	// initial=true eth2 present=true admin=true carrier=true oper=up lost=false
	// initial=true eth3 present=true admin=true carrier=true oper=up lost=false
	// initial=false eth3 present=true admin=true carrier=false oper=lowerlayerdown lost=true
	// initial=false eth2 present=true admin=false carrier=false oper=down lost=false
	// initial=false eth3 present=false admin=false carrier=false oper=notpresent lost=false
	// links left: 1
}
