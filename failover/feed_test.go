package failover_test

import (
	"sync"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
)

// feeder gives an Engine the full evidence of each interface through
// Observe, as a health.Monitor does: a change at one level keeps the other
// level's state.
type feeder struct {
	e  *failover.Engine
	mu sync.Mutex
	ev map[string]netpulse.Evidence
}

var feeders sync.Map // *failover.Engine -> *feeder

// feed returns the feeder of e.
func feed(e *failover.Engine) *feeder {
	f, _ := feeders.LoadOrStore(e, &feeder{e: e, ev: map[string]netpulse.Evidence{}})
	return f.(*feeder)
}

// set changes the evidence of name with fn and observes it.
func (f *feeder) set(name string, fn func(*netpulse.Evidence)) {
	f.mu.Lock()
	ev := f.ev[name]
	ev.Interface.Name = name
	fn(&ev)
	f.ev[name] = ev
	f.mu.Unlock()
	f.e.Observe(ev)
}

// link sets the link state of name: up with carrier (and admin up), down
// without; index 0 keeps the index known.
func (f *feeder) link(name string, index int, carrier bool) {
	f.set(name, func(ev *netpulse.Evidence) {
		if index != 0 {
			ev.Interface.Index = index
		}
		ev.Link = netpulse.StateDown
		if carrier {
			ev.Link = netpulse.StateUp
		}
	})
}

// ip sets the IP verdict of name.
func (f *feeder) ip(name string, v netpulse.Verdict) {
	f.set(name, func(ev *netpulse.Evidence) { ev.IP = v })
}
