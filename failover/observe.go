package failover

import (
	"time"

	"github.com/netpulse/netpulse"
)

// Observe records the evidence of an interface (it implements
// netpulse.Observer): its link state and IP verdict, the full state of both
// levels, as a health.Monitor feeds it (Monitor.Feed). It never blocks; the
// engine's goroutine acts on the latest evidence of every interface.
// Evidence about an interface that is in no group is counted
// (Counters.UnknownEvidence) and ignored.
//
// Members are named: evidence with Index 0 and the link down (the interface
// deleted, or renamed away from the member's name) makes that member gone
// (link-down, never chosen, its addresses moved if it held them), and a
// link that takes the member's name later is that member. A link state
// StateUnknown is no link evidence (health then rests on the IP verdict);
// an unknown or unverified verdict is no IP evidence. Evidence.Time (zero:
// now) becomes HealthEvent.EvidenceTime.
func (e *Engine) Observe(ev netpulse.Evidence) {
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	name := ev.Interface.Name
	e.inMu.Lock()
	if _, ok := e.byName[name]; ok { // byName is immutable after New
		if ev.Link != netpulse.StateUnknown {
			e.inLink[name] = linkEvidence{Index: ev.Interface.Index, Up: ev.Link == netpulse.StateUp, Time: t}
			e.inCnt.link++
		}
		e.inIP[name] = ipEvidence{Verdict: ev.IP, Time: t}
		if ev.IP != netpulse.VerdictUnknown {
			e.inCnt.ip++
		}
	} else {
		e.inCnt.unknown++
	}
	e.inMu.Unlock()
	e.poke()
}
