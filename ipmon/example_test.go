package ipmon_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
)

// prober is what a consumer of ipmon declares: *ipmon.Poller (from
// ipmon.Open) and the ipmontest fake both satisfy it, so this example runs
// without root.
type prober interface {
	Add(ipmon.Target) error
	Subscribe(ctx context.Context) <-chan netpulse.Event
}

// Example reads a Poller's events: the state of each target, the verdict of
// each interface (with netpulse's one meaning of dead: a target that never
// answered makes an interface unverified, not dead), the Poller's own
// condition and the count of events a slow subscriber lost.
func Example() {
	fake := ipmontest.New(&ipmon.Config{Verdict: ipmon.VerdictRule{Kind: ipmon.RuleAny}})
	defer fake.Close()
	fake.SetIndex("eth3", 3)
	var p prober = fake // in production: p, err := ipmon.Open(ctx, &cfg)

	gw := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth3"}
	if err := p.Add(gw); err != nil {
		fmt.Println(err)
		return
	}
	ch := p.Subscribe(context.Background())
	print := func(n int) {
		for range n {
			switch ev := (<-ch).(type) {
			case *ipmon.TargetEvent:
				fmt.Printf("%s: %s -> %s\n", ev.Target, ev.Previous, ev.State)
			case *ipmon.VerdictEvent:
				fmt.Printf("%s (index %d): %s -> %s\n", ev.Interface.Name, ev.Interface.Index, ev.Previous, ev.Verdict)
			case *netpulse.ConditionEvent:
				fmt.Println("poller condition:", ev.Reason)
			case *netpulse.DropEvent:
				fmt.Println("events lost:", ev.Count)
			}
		}
	}
	print(2)
	_ = fake.Set(gw, ipmon.TargetUnverified, 0) // it never answered
	print(2)
	_ = fake.Set(gw, ipmon.TargetUp, 0)
	print(2)
	_ = fake.Set(gw, ipmon.TargetDown, 0) // it answered, then stopped
	print(2)
	// Output:
	// eth3=198.18.0.1: unknown -> unknown
	// eth3 (index 3): unknown -> unknown
	// eth3=198.18.0.1: unknown -> unverified
	// eth3 (index 3): unknown -> unverified
	// eth3=198.18.0.1: unverified -> up
	// eth3 (index 3): unverified -> alive
	// eth3=198.18.0.1: up -> down
	// eth3 (index 3): alive -> dead
}
