package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/ipmontest"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
)

// The detectors and their fakes are the Monitor's sources as they are.
var (
	_ health.LinkSource = (*linkmon.Watcher)(nil)
	_ health.LinkSource = (*linkmontest.Source)(nil)
	_ health.IPSource   = (*ipmon.Poller)(nil)
	_ health.IPSource   = (*ipmontest.Poller)(nil)
)

// observer records the evidence a Feed applies.
type observer struct{ got []netpulse.Evidence }

func (o *observer) Observe(e netpulse.Evidence) { o.got = append(o.got, e) }

// take returns what was observed since the last take, once the Monitor
// applied everything sent (its Feed calls Observe from one goroutine).
func (o *observer) take() []netpulse.Evidence {
	synctest.Wait()
	got := o.got
	o.got = nil
	return got
}

func evidence(index int, name string, link netpulse.State, ip netpulse.Verdict) netpulse.Evidence {
	return netpulse.Evidence{Interface: netpulse.Interface{Index: index, Name: name}, Link: link, IP: ip}
}

// TestFakeSources runs the Monitor over linkmontest's and ipmontest's fakes,
// which send exactly what linkmon.Watcher and ipmon.Poller send: the
// detectors' events are decoded into evidence (carrier loss, an IP-only
// failure with the link up, a target that never answered, a rename and a
// re-creation), and the link watcher's condition becomes the Monitor's.
func TestFakeSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
		defer links.Close()
		probes := ipmontest.New(nil)
		defer probes.Close()
		gw2 := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth2"}
		gw3 := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.2"), Interface: "eth3"}
		require.NoError(t, probes.Add(gw2))
		require.NoError(t, probes.Add(gw3))

		mon, err := health.New(t.Context(), &health.Config{Links: links, Probes: probes})
		require.NoError(t, err)
		defer mon.Close()
		o := &observer{}
		require.NoError(t, mon.Feed(t.Context(), o))
		got := o.take()
		require.ElementsMatch(t, []netpulse.Evidence{
			evidence(2, "eth2", netpulse.StateUp, netpulse.VerdictUnknown),
			evidence(3, "eth3", netpulse.StateUp, netpulse.VerdictUnknown),
		}, stripAll(got))

		check := func(want ...netpulse.Evidence) {
			t.Helper()
			require.Equal(t, want, stripAll(o.take()))
		}
		require.NoError(t, probes.Set(gw2, ipmon.TargetUp, 0))
		require.NoError(t, probes.Set(gw3, ipmon.TargetUp, 0))
		check(evidence(2, "eth2", netpulse.StateUp, netpulse.VerdictAlive), evidence(3, "eth3", netpulse.StateUp, netpulse.VerdictAlive))

		// Carrier loss, then back.
		require.NoError(t, links.SetCarrier("eth3", false))
		check(evidence(3, "eth3", netpulse.StateDown, netpulse.VerdictAlive))
		require.Equal(t, netpulse.HealthLinkDown, mon.Snapshot()[1].Health())
		require.NoError(t, links.SetCarrier("eth3", true))
		check(evidence(3, "eth3", netpulse.StateUp, netpulse.VerdictAlive))

		// The IP path fails with the link up: ip-down.
		require.NoError(t, probes.Set(gw3, ipmon.TargetDown, 0))
		check(evidence(3, "eth3", netpulse.StateUp, netpulse.VerdictDead))
		require.Equal(t, netpulse.HealthIPDown, mon.Snapshot()[1].Health())
		require.Equal(t, netpulse.FailureIPOnly, mon.Snapshot()[1].Failure())

		// eth3 renamed eth9: the name eth3 is gone (its verdict stays with
		// the name), eth9 is the link (no verdict of its own).
		links.Set(linkmontest.Link(3, "eth9", true))
		check(evidence(0, "eth3", netpulse.StateDown, netpulse.VerdictDead), evidence(3, "eth9", netpulse.StateUp, netpulse.VerdictUnknown))

		// A new link takes the name eth3: it has eth3's last verdict.
		links.Set(linkmontest.Link(7, "eth3", true))
		check(evidence(7, "eth3", netpulse.StateUp, netpulse.VerdictDead))
		require.NoError(t, probes.Set(gw3, ipmon.TargetUp, 0))
		check(evidence(7, "eth3", netpulse.StateUp, netpulse.VerdictAlive))

		// eth2 deleted and re-created under a new index: its verdict
		// follows the name.
		require.NoError(t, links.Remove("eth2"))
		check(evidence(0, "eth2", netpulse.StateDown, netpulse.VerdictAlive))
		links.Set(linkmontest.Link(8, "eth2", true))
		check(evidence(8, "eth2", netpulse.StateUp, netpulse.VerdictAlive))

		// The link watcher's sockets fail: the Monitor is not OK until
		// they work again.
		sub := mon.Subscribe(t.Context())
		synctest.Wait()
		for len(sub) > 0 {
			<-sub
		}
		links.Fail(errors.New("receive: ENOBUFS"))
		synctest.Wait()
		require.False(t, mon.Condition().OK)
		require.ErrorContains(t, mon.Condition().Err, "ENOBUFS")
		c := (<-sub).(*netpulse.ConditionEvent)
		require.False(t, c.Condition.OK)
		require.Equal(t, netpulse.ReasonFailing, c.Reason)
		links.Fail(nil)
		synctest.Wait()
		require.True(t, mon.Condition().OK)
		c = (<-sub).(*netpulse.ConditionEvent)
		require.True(t, c.Condition.OK)
		require.Equal(t, netpulse.ReasonWorking, c.Reason)
		require.Empty(t, o.take(), "a condition is no evidence")
	})
}

// TestFakeUnverified: a target that never answered gives ipmon's
// unverified verdict, which is no evidence: the interface stays up.
func TestFakeUnverified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := linkmontest.New(linkmontest.Link(3, "eth3", true))
		defer links.Close()
		probes := ipmontest.New(nil)
		defer probes.Close()
		gw := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.2"), Interface: "eth3"}
		require.NoError(t, probes.Add(gw))
		mon, err := health.New(t.Context(), &health.Config{Links: links, Probes: probes})
		require.NoError(t, err)
		defer mon.Close()
		require.NoError(t, probes.Set(gw, ipmon.TargetUnverified, 0))
		synctest.Wait()
		snap := mon.Snapshot()
		require.Equal(t, []netpulse.Evidence{evidence(3, "eth3", netpulse.StateUp, netpulse.VerdictUnverified)}, stripAll(snap))
		require.Equal(t, netpulse.HealthUp, snap[0].Health())
	})
}

// stripAll drops the times, which the tests do not compare.
func stripAll(es []netpulse.Evidence) []netpulse.Evidence {
	out := make([]netpulse.Evidence, len(es))
	for i, e := range es {
		out[i] = evidence(e.Interface.Index, e.Interface.Name, e.Link, e.IP)
	}
	return out
}

// The Monitor over the fakes of linkmon and ipmon: the evidence of each
// interface as the detectors report on it, and its health.
func Example() {
	links := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
	defer links.Close()
	probes := ipmontest.New(nil)
	defer probes.Close()
	gw := ipmon.Target{Addr: netip.MustParseAddr("198.18.0.1"), Interface: "eth3"}
	_ = probes.Add(gw)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mon, err := health.New(ctx, &health.Config{Links: links, Probes: probes})
	if err != nil {
		panic(err)
	}
	defer mon.Close()
	events := mon.Subscribe(ctx)
	next := func() {
		for ev := range events {
			if h, ok := ev.(*health.EvidenceEvent); ok {
				e := h.Evidence
				fmt.Printf("%s index %d: link %v, ip %v: %v\n", e.Interface, e.Interface.Index, e.Link, e.IP, e.Health())
				return
			}
		}
	}
	next() // eth2 and eth3, as the link watcher reports them
	next()
	_ = probes.Set(gw, ipmon.TargetUp, 0)
	next()
	_ = probes.Set(gw, ipmon.TargetDown, 0) // answered, then stopped: dead
	next()
	_ = links.SetCarrier("eth3", false)
	next()
	// Output:
	// eth2 index 2: link up, ip unknown: up
	// eth3 index 3: link up, ip unknown: up
	// eth3 index 3: link up, ip alive: up
	// eth3 index 3: link up, ip dead: ip-down
	// eth3 index 3: link down, ip dead: link-down
}

// printer is an Observer that hands what it observes to a reader.
type printer chan netpulse.Evidence

func (p printer) Observe(e netpulse.Evidence) { p <- e }

// A Feed lasts as long as its ctx: here it stands for a route.Steerer or a
// failover.Engine that a daemon starts and stops with its configuration.
// It starts with the current evidence of every interface, then gets every
// change, until its ctx is cancelled.
func ExampleMonitor_Feed() {
	links := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
	defer links.Close()
	mon, err := health.New(context.Background(), &health.Config{Links: links})
	if err != nil {
		panic(err)
	}
	defer mon.Close()

	ctx, stop := context.WithCancel(context.Background())
	seen := make(printer, 8)
	if err := mon.Feed(ctx, seen); err != nil {
		panic(err)
	}
	show := func() {
		e := <-seen
		fmt.Printf("%s: link %v: %v\n", e.Interface, e.Link, e.Health())
	}
	show() // the current evidence, by name
	show()
	_ = links.SetCarrier("eth3", false)
	show()

	stop() // the Observer goes away (a reload): nothing more is fed to it
	_ = links.SetCarrier("eth2", false)
	mon.Close() // waits for the Monitor's goroutines: every Feed has ended
	fmt.Println("after stop:", len(seen))
	// Output:
	// eth2: link up: up
	// eth3: link up: up
	// eth3: link down: link-down
	// after stop: 0
}
