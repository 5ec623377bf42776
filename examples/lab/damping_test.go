//go:build linux

package main

import (
	"testing"
	"time"

	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
)

// flapEvents builds eth3's reported events for a burst: each step is
// (ms after start, reported carrier, damped, penalty, kernel transitions).
type flapStep struct {
	ms      int
	carrier bool
	damped  bool
	penalty float64
	kt      uint64
}

func flapEvents(start time.Time, steps ...flapStep) []linkmon.LinkEvent {
	prev := linkmon.State{Name: "eth3", Present: true, AdminUp: true, Carrier: true, KernelCarrier: true}
	var evs []linkmon.LinkEvent
	for _, s := range steps {
		st := prev
		st.Carrier, st.Damped, st.Penalty, st.KernelTransitions = s.carrier, s.damped, s.penalty, s.kt
		evs = append(evs, linkmon.LinkEvent{State: st, Previous: prev, Time: start.Add(time.Duration(s.ms) * time.Millisecond)})
		prev = st
	}
	return evs
}

// TestDampingProblems: the lab's damping step asserts exactly what
// linkmon.Damping promises (#12 test honesty: it passed with up to 11
// reported changes for 6 flaps).
func TestDampingProblems(t *testing.T) {
	d := *damping // Penalty 1000, HalfLife 1 s, Suppress 2500, Reuse 800, Max 4000
	start := time.Now()
	end := start.Add(130 * time.Millisecond) // 6 flaps, 20 ms apart
	const slack = 250 * time.Millisecond
	good := []flapStep{
		{1, false, false, 1000, 1}, {11, true, false, 993, 2},
		{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
		{41, false, true, 2945, 5}, // damped: carrier stays down through the rest
		{41 + 1880, true, false, 800, 12},
	}
	require.Empty(t, dampingProblems(flapEvents(start, good...), d, start, end, slack))

	// Every flap followed: 11 reported changes (the old test passed it).
	var followed []flapStep
	for i := range 6 {
		followed = append(followed, flapStep{1 + 20*i, false, false, 1000, uint64(2*i + 1)})
		if i < 5 {
			followed = append(followed, flapStep{11 + 20*i, true, false, 1000, uint64(2*i + 2)})
		}
	}
	require.NotEmpty(t, dampingProblems(flapEvents(start, followed...), d, start, end, slack))

	bad := map[string][]flapStep{
		"damped at loss 2 (penalty cannot pass 2500)": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, true, 2600, 3}, {21 + 1800, true, false, 800, 12}},
		"damped only at loss 4 in a 130 ms burst": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, false, 2400, 5}, {51, true, false, 2390, 6},
			{61, false, true, 3300, 7}, {61 + 2100, true, false, 800, 12}},
		"carrier up reported while damped": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, true, 2945, 5}, {51, true, true, 2930, 6}, {41 + 1880, true, false, 800, 12}},
		"released too early": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, true, 2945, 5}, {41 + 500, true, false, 800, 12}},
		"released too late": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, true, 2945, 5}, {41 + 4000, true, false, 800, 12}},
		"never released": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, true, 2945, 5}},
		"a loss linkmon saw was not reported": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{41, false, true, 2945, 7}, {41 + 1880, true, false, 800, 12}},
		"a change after the release": {
			{1, false, false, 1000, 1}, {11, true, false, 993, 2},
			{21, false, false, 1979, 3}, {31, true, false, 1965, 4},
			{41, false, true, 2945, 5}, {41 + 1880, true, false, 800, 12}, {41 + 1900, false, false, 1700, 13}},
	}
	for name, steps := range bad {
		p := dampingProblems(flapEvents(start, steps...), d, start, end, slack)
		require.NotEmpty(t, p, name)
		t.Logf("%s: %q", name, p)
	}
}
