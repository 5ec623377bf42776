//go:build linux

package route

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// The View's refresh schedule, in simulated time: the first change after
// a quiet period is read at once, later ones wait for the window after
// the last read, a slow read stretches the window to five times its
// duration, and full dumps wait five times the last one's duration.
func TestRefreshSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &View{cfg: ViewConfig{Coalesce: 10 * time.Millisecond}}
		finish := func(cost time.Duration) {
			v.pend.dirty, v.pend.carrier, v.pend.full, v.pend.due = nil, nil, false, time.Time{}
			v.pend.lastEnd, v.pend.lastCost = time.Now(), cost
		}
		t0 := time.Now()
		v.want(3, false)
		require.Equal(t, t0, v.pend.due, "first change: at once")
		require.True(t, v.pend.dirty[3])
		finish(time.Millisecond)

		time.Sleep(2 * time.Millisecond)
		v.want(3, false)
		v.want(4, false)
		require.Equal(t, t0.Add(10*time.Millisecond), v.pend.due, "within the window: at its end")
		require.Len(t, v.pend.dirty, 2, "gathered")
		finish(time.Millisecond)

		time.Sleep(50 * time.Millisecond)
		v.want(3, false)
		require.Equal(t, time.Now(), v.pend.due, "after a quiet period: at once")
		finish(8 * time.Millisecond) // a slow read

		v.want(3, false)
		require.Equal(t, time.Now().Add(40*time.Millisecond), v.pend.due, "five times the last read")
		finish(time.Millisecond)

		// Full dumps: spaced by five times their duration.
		v.pend.lastFull, v.pend.fullCost = time.Now(), 650*time.Millisecond
		time.Sleep(20 * time.Millisecond)
		v.want(0, true)
		require.Equal(t, v.pend.lastFull.Add(3250*time.Millisecond), v.pend.due)
		require.Equal(t, uint64(1), v.fullDumpsDelayed.Load())

		// The baseline mode of the churn trial: everything, at once.
		b := &View{cfg: ViewConfig{Coalesce: 10 * time.Millisecond, redumpEveryHint: true}}
		b.want(3, false)
		require.True(t, b.pend.full)
		require.Equal(t, time.Now(), b.pend.due)
	})
}
