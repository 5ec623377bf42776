package ipmontest_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
)

// A consumer's unit test drives the fake: it decides each target's state,
// and the fake sends the events (and verdicts) a real Poller would.
func Example() {
	p := ipmontest.New(nil)
	defer p.Close()
	p.SetIndex("eth3", 3)
	gw := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth3"}
	_ = p.Add(gw)
	ch := p.Subscribe(context.Background())
	show := func(n int) {
		for range n {
			switch ev := (<-ch).(type) {
			case *ipmon.TargetEvent:
				fmt.Println("target", ev.Target, ev.State)
			case *ipmon.VerdictEvent:
				fmt.Println("verdict", ev.Interface.Name, ev.Interface.Index, ev.Verdict)
			case *netpulse.DropEvent:
				fmt.Println("dropped", ev.Count)
			}
		}
	}
	show(2) // the initial state
	_ = p.Set(gw, ipmon.TargetUp, 0)
	show(2)
	_ = p.Set(gw, ipmon.TargetDown, 0)
	show(2)
	// Output:
	// target eth3=198.18.0.1 unknown
	// verdict eth3 3 unknown
	// target eth3=198.18.0.1 up
	// verdict eth3 3 alive
	// target eth3=198.18.0.1 down
	// verdict eth3 3 dead
}
