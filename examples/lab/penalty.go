//go:build linux

package main

import (
	"math"
	"time"
)

// waitPenaltyBelow waits, up to max, until the damping penalty linkmon
// holds for the link name has decayed below limit, and returns the
// penalty it left. The damping step's promises (dampingProblems) assume
// a burst that starts with no penalty: a carrier loss in an earlier step,
// a second or two before, would leave enough to damp one loss early.
func (s *session) waitPenaltyBelow(name string, limit float64, max time.Duration) float64 {
	deadline := time.Now().Add(max)
	for {
		p := 0.0
		if st, ok := s.app.watcher.Snapshot().Link(name); ok && st.Penalty > 0 {
			// Snapshot's Penalty is the one at the last change; it
			// decays with HalfLife since.
			p = st.Penalty * math.Exp2(-float64(time.Since(st.Changed))/float64(damping.HalfLife))
		}
		if p < limit || !time.Now().Before(deadline) {
			return p
		}
		time.Sleep(min(100*time.Millisecond, time.Until(deadline)))
	}
}
