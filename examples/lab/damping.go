//go:build linux

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/netpulse/netpulse/linkmon"
)

// dampingProblems checks one link's reported events during and after a
// burst of flaps (made between start and end) against exactly what
// linkmon.Damping promises, with no up-delay or down-delay configured:
//
//   - each carrier loss linkmon sees adds Penalty, decaying with HalfLife;
//     a loss that leaves the penalty at most Suppress is reported as a loss
//     (and the return as a return): before damping, the application follows
//     the link, one reported loss per loss seen;
//   - the loss that takes the penalty above Suppress is reported as damped
//     (carrier down), which takes at least ceil-above(Suppress/Penalty)
//     losses, and at most as many as a penalty decayed over the whole burst
//     needs;
//   - from then on the carrier is reported down, whatever the kernel says,
//     until the penalty has decayed to Reuse: not before HalfLife x
//     log2(penalty at damping / Reuse) after the damping, and, since Max
//     caps the penalty, not later than HalfLife x log2(Max/Reuse) after the
//     last loss;
//   - so the application sees exactly 2 x (losses until damped) carrier
//     changes, and nothing after the release (the flapping stopped).
//
// slack is what scheduling may add to the last bound.
func dampingProblems(evs []linkmon.LinkEvent, d linkmon.Damping, start, end time.Time, slack time.Duration) []string {
	var probs []string
	problem := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	var losses, changes int
	var damped, released *linkmon.LinkEvent
	for i := range evs {
		ev := &evs[i]
		s, p := ev.State, ev.Previous
		if s.Carrier != p.Carrier {
			changes++
		}
		switch {
		case damped == nil && p.Carrier && !s.Carrier:
			losses++
			if s.Damped {
				damped = ev
				if s.Penalty <= d.Suppress {
					problem("damped at penalty %.0f, not above Suppress %.0f", s.Penalty, d.Suppress)
				}
			} else if s.Penalty > d.Suppress {
				problem("loss %d at penalty %.0f above Suppress %.0f, not damped", losses, s.Penalty, d.Suppress)
			}
		case damped != nil && released == nil && (s.Carrier || !s.Damped):
			if !s.Carrier || s.Damped || !p.Damped {
				problem("while damped: carrier %v, damped %v (previous damped %v): the release must bring both", s.Carrier, s.Damped, p.Damped)
			}
			released = ev
		case released != nil && (s.Carrier != p.Carrier || s.Damped):
			problem("a change after the release (%v carrier %v damped %v): the flapping had stopped", ev.Time.Sub(start), s.Carrier, s.Damped)
		}
	}
	if damped == nil {
		problem("never damped (%d losses reported)", losses)
		return probs
	}
	if released == nil {
		problem("never released")
	}
	// One reported loss per loss linkmon saw, until damped.
	if seen := int(damped.State.KernelTransitions-evs[0].Previous.KernelTransitions+1) / 2; seen != losses {
		problem("%d losses seen by linkmon until damped, %d reported", seen, losses)
	}
	minLosses := int(math.Floor(d.Suppress/d.Penalty)) + 1
	burst := end.Sub(start)
	maxLosses := 0
	for n := 1; n <= 1000; n++ {
		if float64(n)*d.Penalty*math.Exp2(-float64(burst)/float64(d.HalfLife)) > d.Suppress {
			maxLosses = n
			break
		}
	}
	if losses < minLosses || (maxLosses > 0 && losses > maxLosses) {
		problem("damped at loss %d: the penalty promises between %d and %d for a %v burst", losses, minLosses, maxLosses, burst.Round(time.Millisecond))
	}
	if changes != 2*losses {
		problem("%d carrier changes reported: %d losses until damped promise exactly %d", changes, losses, 2*losses)
	}
	if released != nil {
		held := released.Time.Sub(damped.Time)
		minHeld := time.Duration(float64(d.HalfLife) * math.Log2(damped.State.Penalty/d.Reuse))
		maxAt := end.Add(time.Duration(float64(d.HalfLife)*math.Log2(d.Max/d.Reuse)) + slack)
		if held < minHeld-time.Millisecond {
			problem("released %v after the damping: the penalty %.0f promises at least %v", held.Round(time.Millisecond), damped.State.Penalty, minHeld.Round(time.Millisecond))
		}
		if released.Time.After(maxAt) {
			problem("released %v after the flapping stopped: Max %.0f promises at most %v", released.Time.Sub(end).Round(time.Millisecond), d.Max, maxAt.Sub(end).Round(time.Millisecond))
		}
	}
	return probs
}
