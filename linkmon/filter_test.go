package linkmon

import (
	"context"
	"math"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

func testConfig(t *testing.T, c Config) *config {
	t.Helper()
	vc, err := c.resolve()
	require.NoError(t, err)
	return vc
}

func TestFilterDownDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFilter(testConfig(t, Config{DownDelay: 100 * time.Millisecond}), true, time.Now())
		require.True(t, f.reported())

		// A loss shorter than the delay is not reported, but counted.
		f.observe(time.Now(), false, true, true)
		require.True(t, f.reported())
		require.Equal(t, time.Now().Add(100*time.Millisecond), f.next())
		time.Sleep(99 * time.Millisecond)
		f.advance(time.Now(), true)
		require.True(t, f.reported())
		f.observe(time.Now(), true, true, true)
		require.True(t, f.reported())
		require.Equal(t, uint64(1), f.suppressed)
		require.True(t, f.next().IsZero())

		// A loss that lasts is reported when the delay ends.
		f.observe(time.Now(), false, true, true)
		time.Sleep(100 * time.Millisecond)
		f.advance(time.Now(), true)
		require.False(t, f.reported())
		// Coming back up has no up-delay configured: at once.
		f.observe(time.Now(), true, true, true)
		require.True(t, f.reported())
	})
}

func TestFilterUpDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFilter(testConfig(t, Config{UpDelay: time.Second}), false, time.Now())
		require.False(t, f.reported())

		// Another link is up: the up-delay applies.
		f.observe(time.Now(), true, true, true)
		require.False(t, f.reported())
		time.Sleep(500 * time.Millisecond)
		f.observe(time.Now(), false, true, true) // too short: suppressed
		require.False(t, f.reported())
		require.Equal(t, uint64(1), f.suppressed)

		f.observe(time.Now(), true, true, true)
		time.Sleep(time.Second)
		f.advance(time.Now(), true)
		require.True(t, f.reported())
		// Down has no delay configured.
		f.observe(time.Now(), false, true, true)
		require.False(t, f.reported())
	})
}

// TestFilterUpDelayNoLinkUp: when no watched link is up, a link coming up is
// reported at once (bonding does the same: waiting would leave the
// application with no link at all).
func TestFilterUpDelayNoLinkUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFilter(testConfig(t, Config{UpDelay: time.Second}), false, time.Now())
		f.observe(time.Now(), true, true, false)
		require.True(t, f.reported())

		// A pending up-delay ends early when the last other link goes down.
		g := newFilter(testConfig(t, Config{UpDelay: time.Second}), false, time.Now())
		g.observe(time.Now(), true, true, true)
		require.False(t, g.reported())
		time.Sleep(10 * time.Millisecond)
		g.advance(time.Now(), false)
		require.True(t, g.reported())
	})
}

func TestFilterAdminDownIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFilter(testConfig(t, Config{DownDelay: time.Second, Damping: &Damping{}}), true, time.Now())
		f.observe(time.Now(), false, false, true)
		require.False(t, f.reported())
		require.Zero(t, f.penaltyNow(time.Now()), "admin down is not a flap")
		require.True(t, f.next().IsZero())
	})
}

func TestFilterDamping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &Damping{Penalty: 1000, HalfLife: time.Second, Suppress: 2000, Reuse: 750, Max: 8000}
		f := newFilter(testConfig(t, Config{Damping: d}), true, time.Now())
		flap := func() {
			f.observe(time.Now(), false, true, true)
			time.Sleep(10 * time.Millisecond)
			f.observe(time.Now(), true, true, true)
			time.Sleep(10 * time.Millisecond)
		}
		flap()
		flap()
		require.True(t, f.reported(), "2 flaps stay below the suppress threshold")
		require.False(t, f.damped)
		flap()
		require.True(t, f.damped, "the third flap crosses 2000")
		require.False(t, f.reported(), "a damped link is reported down although the kernel has carrier")

		// Released when the penalty decays below the reuse threshold.
		p := f.penaltyNow(time.Now())
		want := time.Duration(float64(time.Second) * math.Log2(p/750))
		rel := f.next()
		require.WithinDuration(t, time.Now().Add(want), rel, time.Millisecond)
		time.Sleep(time.Until(rel) - time.Millisecond)
		f.advance(time.Now(), true)
		require.True(t, f.damped)
		time.Sleep(time.Millisecond)
		f.advance(time.Now(), true)
		require.False(t, f.damped)
		require.True(t, f.reported())

		// The penalty is capped at Max, which bounds the suppression.
		for range 50 {
			flap()
		}
		require.LessOrEqual(t, f.penaltyNow(time.Now()), 8000.0)
		require.LessOrEqual(t, time.Until(f.next()), time.Duration(float64(time.Second)*math.Log2(8000.0/750))+time.Millisecond)
	})
}

func TestConfigDefaults(t *testing.T) {
	c := testConfig(t, Config{})
	require.Equal(t, 10*time.Millisecond, c.CheckInterval)
	require.Equal(t, 4<<20, c.ReadBuffer)
	require.Nil(t, c.Damping)
	require.Equal(t, 10*time.Millisecond, checkInterval(c.CheckInterval, c.autoInterval, 8))
	require.Equal(t, 80*time.Millisecond, checkInterval(c.CheckInterval, c.autoInterval, 64))
	require.Equal(t, 5*time.Millisecond, checkInterval(5*time.Millisecond, false, 64), "an explicit interval is kept")
	require.Nil(t, newFilter(c, true, time.Now()), "no delays: no filter on the path")
	c = testConfig(t, Config{Damping: &Damping{}})
	require.Equal(t, Damping{Penalty: 1000, HalfLife: 5 * time.Second, Suppress: 2000, Reuse: 750, Max: 8000}, *c.Damping)
	for _, bad := range []Config{
		{UpDelay: -1}, {ReadBuffer: -1}, {CheckInterval: time.Microsecond}, {NetNS: -2},
		{CheckInterval: -1}, {DownDelay: -1}, {Buffer: -1},
		{Interfaces: []netpulse.Interface{{Name: ""}}}, {Interfaces: []netpulse.Interface{{Index: -1}}},
		{Interfaces: []netpulse.Interface{{Name: "a-very-long-interface-name"}}},
		{Interfaces: []netpulse.Interface{{Index: 3, Name: "bad name"}}},
		{Damping: &Damping{Reuse: 3000}},
	} {
		err := bad.Validate()
		require.ErrorIs(t, err, os.ErrInvalid, "%+v", bad)
	}
	require.NoError(t, (*Config)(nil).Validate(), "nil is the defaults")
	require.NoError(t, (&Config{NoCarrierCheck: true, Interfaces: []netpulse.Interface{{Index: 3}}}).Validate())
}

// msg builds a link message as the kernel would send it.
func msg(index int, name string, admin, carrier bool) *linkMsg {
	m := &linkMsg{index: index, name: []byte(name), mtu: 1500, iflink: index + 100, oper: uint8(OperStateDown)}
	if admin {
		m.flags |= iffUp
	}
	if carrier {
		m.flags |= iffLowerUp
		m.oper = uint8(OperStateUp)
	}
	return m
}

func recvWithin(t *testing.T, ch <-chan netpulse.Event, d time.Duration) (*LinkEvent, bool) {
	t.Helper()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case ev := <-ch:
		return linkOf(t, ev), true
	case <-tm.C:
		return &LinkEvent{}, false
	}
}

// TestCoreDelaysInSimulatedTime drives the core (table, filters, scheduler,
// subscribers) with injected kernel messages.
func TestCoreDelaysInSimulatedTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{DownDelay: 100 * time.Millisecond, UpDelay: time.Second}))
		c.start()
		defer c.stop()
		c.apply(msg(2, "eth2", true, true), time.Now())
		c.apply(msg(3, "eth3", true, true), time.Now())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := c.subscribe(ctx)
		for _, n := range []string{"eth2", "eth3"} {
			ev := recvLink(t, ch)
			require.True(t, ev.Initial)
			require.Equal(t, n, ev.State.Name)
		}

		start := time.Now()
		c.apply(msg(2, "eth2", true, false), time.Now())
		ev, ok := recvWithin(t, ch, time.Second)
		require.True(t, ok)
		require.False(t, ev.State.Carrier)
		require.Equal(t, 100*time.Millisecond, time.Since(start), "reported exactly at the down-delay")
		require.Equal(t, uint64(1), ev.State.Downs)

		// eth2 back while eth3 is up: the up-delay applies.
		start = time.Now()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ev, ok = recvWithin(t, ch, 2*time.Second)
		require.True(t, ok)
		require.True(t, ev.State.Carrier)
		require.Equal(t, time.Second, time.Since(start))

		// Both down; then eth2 up: reported at once (no link up).
		c.apply(msg(2, "eth2", true, false), time.Now())
		c.apply(msg(3, "eth3", true, false), time.Now())
		for range 2 {
			ev, ok = recvWithin(t, ch, time.Second)
			require.True(t, ok)
			require.False(t, ev.State.Carrier)
		}
		start = time.Now()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ev, ok = recvWithin(t, ch, time.Second)
		require.True(t, ok)
		require.Equal(t, "eth2", ev.State.Name)
		require.True(t, ev.State.Carrier)
		require.Zero(t, time.Since(start))

		// A short loss is counted, not evented.
		c.apply(msg(2, "eth2", true, false), time.Now())
		time.Sleep(50 * time.Millisecond)
		c.apply(msg(2, "eth2", true, true), time.Now())
		ev, ok = recvWithin(t, ch, time.Second)
		require.False(t, ok, "%+v %+v", ev.State, ev.Previous)
		st, _ := c.snapshot().Link("eth2")
		require.Equal(t, uint64(1), st.Suppressed)
		require.True(t, st.Carrier)
		require.Equal(t, uint64(6), st.KernelTransitions)
	})
}

func TestCoreDampingInSimulatedTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{Damping: &Damping{HalfLife: time.Second}}))
		c.start()
		defer c.stop()
		c.apply(msg(2, "eth2", true, true), time.Now())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := c.subscribe(ctx)
		<-ch
		for range 3 {
			c.apply(msg(2, "eth2", true, false), time.Now())
			c.apply(msg(2, "eth2", true, true), time.Now())
		}
		var last *LinkEvent
		for {
			ev, ok := recvWithin(t, ch, 10*time.Millisecond)
			if !ok {
				break
			}
			last = ev
		}
		require.True(t, last.State.Damped)
		require.False(t, last.State.Carrier)
		st, _ := c.snapshot().Link("eth2")
		require.True(t, st.KernelCarrier, "the kernel has carrier; only the reported view is damped")
		require.True(t, st.Damped)
		start := time.Now()
		ev, ok := recvWithin(t, ch, time.Minute)
		require.True(t, ok)
		require.False(t, ev.State.Damped)
		require.True(t, ev.State.Carrier)
		// 3000 decays to 750 in two half-lives.
		require.InDelta(t, 2*time.Second, time.Since(start)+10*time.Millisecond, float64(5*time.Millisecond))
	})
}

func TestCoreTableEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{Interfaces: []netpulse.Interface{{Name: "eth2"}, {Index: 7}}}))
		c.start()
		defer c.stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := c.subscribe(ctx)
		c.apply(msg(2, "eth2", true, true), time.Now())
		c.apply(msg(3, "eth3", true, true), time.Now()) // not selected
		c.apply(msg(7, "x7", true, true), time.Now())   // selected by index
		ev := recvLink(t, ch)
		require.Equal(t, "eth2", ev.State.Name)
		require.False(t, ev.Previous.Present)
		ev = recvLink(t, ch)
		require.Equal(t, "x7", ev.State.Name)

		// Admin down is evented as such.
		c.apply(msg(2, "eth2", false, false), time.Now())
		ev = recvLink(t, ch)
		require.False(t, ev.State.AdminUp)
		require.False(t, ev.State.CarrierLost())
		require.True(t, ev.Previous.AdminUp)

		// A dump that no longer lists x7 removes it.
		c.reconcile(map[int]bool{2: true}, time.Now())
		ev = recvLink(t, ch)
		require.Equal(t, 7, ev.State.Index)
		require.False(t, ev.State.Present)
		require.Len(t, c.snapshot().Links, 1)

		// Deletion then reuse of the index by another link.
		del := msg(2, "eth2", false, false)
		del.deleted = true
		c.apply(del, time.Now())
		ev = recvLink(t, ch)
		require.False(t, ev.State.Present)
		c.apply(msg(2, "eth2", true, true), time.Now())
		ev = recvLink(t, ch)
		require.True(t, ev.State.Present)
		require.False(t, ev.Previous.Present)

		// An unchanged message emits nothing.
		c.apply(msg(2, "eth2", true, true), time.Now())
		_, ok := recvWithin(t, ch, time.Second)
		require.False(t, ok)
		require.Equal(t, uint64(6), c.snapshot().Counters.Events)
	})
}

func TestDetailReadAloneIsNoEvent(t *testing.T) {
	a := State{Present: true, Index: 3, Name: "ifb9"}
	b := a
	b.Detail.Read = true
	require.False(t, visibleChange(&a, &b), "Read alone")
	b.Detail.SpeedMbps = 1000
	require.True(t, visibleChange(&a, &b), "a detail that says something")
}
