package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	src := newFake()
	for _, c := range []struct {
		name string
		cfg  *Config
	}{
		{"nil", nil},
		{"no source", &Config{Interfaces: []string{"eth2"}}},
		{"empty name", &Config{Links: src, Interfaces: []string{""}}},
		{"long name", &Config{Links: src, Interfaces: []string{"abcdefghijklmnop"}}},
		{"slash", &Config{Links: src, Interfaces: []string{"a/b"}}},
		{"space", &Config{Probes: src, Interfaces: []string{"a b"}}},
		{"dot", &Config{Probes: src, Interfaces: []string{"."}}},
		{"twice", &Config{Links: src, Interfaces: []string{"eth2", "eth3", "eth2"}}},
	} {
		err := c.cfg.Validate()
		require.ErrorIs(t, err, os.ErrInvalid, c.name)
		_, err = New(context.Background(), c.cfg)
		require.ErrorIs(t, err, os.ErrInvalid, c.name)
	}
	require.NoError(t, (&Config{Links: src}).Validate())
	require.NoError(t, (&Config{Probes: src, Interfaces: []string{"eth2", "abcdefghijklmno"}}).Validate())
}

// TestNewContext: a done ctx fails New; cancelling it after New returned
// changes nothing.
func TestNewContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := New(done, &Config{Links: newFake()})
		require.ErrorIs(t, err, context.Canceled)

		ctx, cancel := context.WithCancel(context.Background())
		links := newFake()
		m, err := New(ctx, &Config{Links: links})
		require.NoError(t, err)
		defer m.Close()
		cancel()
		synctest.Wait()
		links.send(up(2, "eth2"))
		require.Len(t, m.Snapshot(), 1)
		require.True(t, m.Condition().OK)
	})
}

// TestSubscribe: a subscription starts with the evidence of every
// interface (Initial, no Previous), then gets each change with the
// evidence its subscriber saw before.
func TestSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		t0 := time.Now()
		r.links.send(&linkmon.LinkEvent{Time: t0, State: linkmon.State{Index: 3, Name: "eth3", Present: true, AdminUp: true, Carrier: true}})
		time.Sleep(time.Second)
		r.links.send(up(2, "eth2")) // no time: the Monitor's clock
		ch := r.m.Subscribe(t.Context())
		synctest.Wait()
		require.Len(t, ch, 2)
		e := (<-ch).(*EvidenceEvent)
		t2 := t0.Add(time.Second)
		require.Equal(t, &EvidenceEvent{Time: t2, Evidence: netpulse.Evidence{Time: t2, Interface: ifc(2, "eth2"), Link: sUp}, Initial: true}, e)
		require.Equal(t, "eth3", (<-ch).(*EvidenceEvent).Evidence.Interface.Name)

		time.Sleep(time.Second)
		t1 := time.Now()
		r.ips.send(&ipmon.VerdictEvent{Time: t1, Interface: netpulse.Interface{Name: "eth3"}, Verdict: vDead})
		e = (<-ch).(*EvidenceEvent)
		require.Equal(t, t1, e.Time)
		require.Equal(t, t1, e.EventTime())
		require.False(t, e.Initial)
		require.Equal(t, netpulse.Evidence{Time: t0, Interface: ifc(3, "eth3"), Link: sUp}, e.Previous)
		require.Equal(t, netpulse.Evidence{Time: t1, Interface: ifc(3, "eth3"), Link: sUp, IP: vDead}, e.Evidence)
		require.Equal(t, netpulse.HealthIPDown, e.Evidence.Health())
		require.Empty(t, ch)
	})
}

// TestSubscribeInitialKept: a subscription starts with the evidence of
// every interface at the time of Subscribe (Initial), also when changes
// come before it reads and more interfaces exist than its channel holds:
// a change is never folded into an initial event, it follows it.
func TestSubscribeInitialKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		const n = subscribeBuffer + 8
		for i := range n {
			r.links.send(up(100+i, fmt.Sprintf("eth%d", 100+i)))
		}
		ch := r.m.Subscribe(t.Context())
		for i := range n {
			r.links.send(noCarrier(100+i, fmt.Sprintf("eth%d", 100+i)))
		}
		seen := map[string]int{}
		for i := 0; len(ch) > 0; i++ {
			e := (<-ch).(*EvidenceEvent)
			name := e.Evidence.Interface.Name
			if i < n {
				require.True(t, e.Initial, "event %d", i)
				require.Equal(t, sUp, e.Evidence.Link, "the evidence at Subscribe")
				require.Zero(t, e.Previous)
			} else {
				require.False(t, e.Initial, "event %d", i)
				require.Equal(t, sDown, e.Evidence.Link)
				require.Equal(t, sUp, e.Previous.Link, "what the subscriber saw")
			}
			seen[name]++
			synctest.Wait()
		}
		require.Len(t, seen, n)
		for name, k := range seen {
			require.Equal(t, 2, k, name)
		}
	})
}

// TestSubscribeFallsBehind: a subscriber that does not read gets, when it
// reads again, every event that fitted in its channel, then the changes
// folded into the latest evidence of every interface, Coalesced counting
// them: nothing is lost silently, and folding is no drop (no DropEvent).
func TestSubscribeFallsBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		ch := r.m.Subscribe(t.Context())
		const n = 60
		for i := range n {
			time.Sleep(time.Millisecond)
			if i%2 == 0 {
				r.links.send(up(2, "eth2"))
			} else {
				r.links.send(noCarrier(2, "eth2"))
			}
		}
		r.links.send(up(3, "eth3"))
		var events, coalesced int
		var last netpulse.Evidence
		var prev *EvidenceEvent
		for len(ch) > 0 {
			switch e := (<-ch).(type) {
			case *EvidenceEvent:
				events++
				coalesced += e.Coalesced
				require.False(t, e.Initial)
				if e.Evidence.Interface.Name == "eth2" {
					if prev != nil {
						require.Equal(t, prev.Evidence, e.Previous, "Previous is what the subscriber saw")
					}
					prev = e
				} else {
					last = e.Evidence
				}
			default:
				t.Fatalf("unexpected %T", e)
			}
			synctest.Wait()
		}
		require.Positive(t, coalesced)
		require.Equal(t, n+1, events+coalesced, "every event delivered or counted")
		require.Equal(t, ev(2, "eth2", sDown, vUnknown), strip([]netpulse.Evidence{prev.Evidence})[0], "the latest state (i = n-1 is odd)")
		require.Equal(t, ev(3, "eth3", sUp, vUnknown), strip([]netpulse.Evidence{last})[0])
	})
}

// TestCondition: a source's condition is the Monitor's: not OK while a
// source is not; a subscription of a Monitor that is not OK starts with a
// ConditionEvent; a source's condition events change no evidence.
func TestCondition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		ch := r.m.Subscribe(t.Context())
		synctest.Wait()
		<-ch
		errSock := errors.New("socket failed")
		t1 := time.Now()
		r.links.send(&netpulse.ConditionEvent{Time: t1, Condition: netpulse.Condition{Err: errSock, Since: t1}, Reason: netpulse.ReasonFailing})
		r.links.send(&netpulse.DropEvent{Time: t1, Count: 3})
		c := (<-ch).(*netpulse.ConditionEvent)
		require.Equal(t, netpulse.ReasonFailing, c.Reason)
		require.False(t, c.Condition.OK)
		require.ErrorIs(t, c.Condition.Err, errSock)
		require.Equal(t, t1, c.Condition.Since)
		require.True(t, c.Previous.OK)
		require.Equal(t, c.Condition, r.m.Condition())
		require.Empty(t, ch)
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown)}, r.observed(), "no evidence from a condition")

		late := r.m.Subscribe(t.Context())
		synctest.Wait()
		require.Equal(t, c.Condition, (<-late).(*netpulse.ConditionEvent).Condition)
		require.IsType(t, &EvidenceEvent{}, <-late)

		time.Sleep(time.Second)
		r.links.send(&netpulse.ConditionEvent{Time: time.Now(), Condition: netpulse.Condition{OK: true}, Reason: netpulse.ReasonWorking})
		c = (<-ch).(*netpulse.ConditionEvent)
		require.Equal(t, netpulse.ReasonWorking, c.Reason)
		require.True(t, c.Condition.OK)
		require.NoError(t, c.Condition.Err)
		require.True(t, r.m.Condition().OK)
	})
}

// TestSourceEnded: a source that ends its subscription while the Monitor
// runs makes the Monitor not OK (its evidence is no longer kept up to
// date); the other source still works.
func TestSourceEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		r.ips.end()
		c := r.m.Condition()
		require.False(t, c.OK)
		require.ErrorIs(t, c.Err, net.ErrClosed)
		require.ErrorContains(t, c.Err, "IP source")
		r.links.send(noCarrier(2, "eth2"))
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown), ev(2, "eth2", sDown, vUnknown)}, r.observed())
	})
}

// TestFeed: a Feed starts with the current evidence of every interface,
// then gets every change; Feed of a nil ctx or Observer, with a done ctx or
// after Close is an error.
func TestFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		r.links.send(up(3, "eth3"))
		r.ips.send(verdict("eth3", vAlive))
		r.links.send(up(2, "eth2"))
		late := &recorder{}
		require.NoError(t, r.m.Feed(t.Context(), late))
		synctest.Wait()
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown), ev(3, "eth3", sUp, vAlive)}, strip(late.take()))
		r.links.send(noCarrier(2, "eth2"))
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sDown, vUnknown)}, strip(late.take()))

		var noCtx context.Context
		require.ErrorIs(t, r.m.Feed(t.Context(), nil), os.ErrInvalid)
		require.ErrorIs(t, r.m.Feed(noCtx, late), os.ErrInvalid)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, r.m.Feed(done, late), context.Canceled)
		require.NoError(t, r.m.Close())
		require.ErrorIs(t, r.m.Feed(t.Context(), late), net.ErrClosed)
		require.Empty(t, late.take())
	})
}

// TestFeedContext: a Feed ends with its ctx (nothing more is observed, its
// goroutines end: synctest.Test fails if one is left); the Monitor and its
// other Feeds go on.
func TestFeedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		r.observed()
		ctx, cancel := context.WithCancel(context.Background())
		o := &recorder{}
		require.NoError(t, r.m.Feed(ctx, o))
		synctest.Wait()
		require.Len(t, o.take(), 1)
		cancel()
		synctest.Wait()
		r.links.send(noCarrier(2, "eth2"))
		require.Empty(t, o.take(), "a Feed whose ctx ended observes nothing")
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sDown, vUnknown)}, r.observed(), "the other Feed goes on")
	})
}

// gate is an Observer that records what it observes, each call blocking
// until released.
type gate struct {
	recorder
	release chan struct{}
}

func (g *gate) Observe(e netpulse.Evidence) {
	g.recorder.Observe(e)
	<-g.release
}

// TestFeedSlow: an Observer slower than the changes blocks nobody and gets
// the latest evidence of every interface, the changes it missed folded.
func TestFeedSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		r.observed()
		g := &gate{release: make(chan struct{})}
		defer close(g.release)
		require.NoError(t, r.m.Feed(t.Context(), g))
		synctest.Wait() // g is in its first Observe
		const n = 21
		for i := range n {
			if i%2 == 0 {
				r.links.send(noCarrier(2, "eth2"))
			} else {
				r.links.send(up(2, "eth2"))
			}
		}
		r.links.send(up(3, "eth3"))
		require.Len(t, r.observed(), n+1, "the fast Feed is not held up")
		for range 4 {
			g.release <- struct{}{}
			synctest.Wait()
		}
		require.Equal(t, []netpulse.Evidence{
			ev(2, "eth2", sUp, vUnknown),   // the initial evidence
			ev(2, "eth2", sDown, vUnknown), // held by the hub when the rest came
			ev(2, "eth2", sDown, vUnknown), // the latest, n-1 changes folded
			ev(3, "eth3", sUp, vUnknown),
		}, strip(g.take()))
	})
}

// blocker is an Observer that blocks until released.
type blocker struct{ release chan struct{} }

func (b blocker) Observe(netpulse.Evidence) { <-b.release }

// TestClose: Close closes every subscription, waits for a running Observe,
// ends the sources' subscriptions and is idempotent; a Subscribe after
// Close gets a closed channel. synctest.Test fails if a goroutine of the
// bubble is left behind.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		r.links.send(up(2, "eth2"))
		ch := r.m.Subscribe(context.Background())
		b := blocker{make(chan struct{})}
		require.NoError(t, r.m.Feed(t.Context(), b))
		synctest.Wait()
		closed := make(chan struct{})
		go func() { r.m.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while Observe runs")
		default:
		}
		close(b.release)
		<-closed
		require.IsType(t, &EvidenceEvent{}, <-ch)
		_, ok := <-ch
		require.False(t, ok)
		require.NoError(t, r.m.Close())
		_, ok = <-r.m.Subscribe(context.Background())
		require.False(t, ok)
		require.True(t, r.m.Condition().OK, "closing is no source failure")
	})
}

// TestSubscribeContext: a subscription ends with its ctx; the Monitor and
// its other subscriptions go on.
func TestSubscribeContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		ctx, cancel := context.WithCancel(context.Background())
		ch := r.m.Subscribe(ctx)
		cancel()
		synctest.Wait()
		_, ok := <-ch
		require.False(t, ok)
		r.links.send(up(2, "eth2"))
		require.Len(t, r.observed(), 1)
	})
}

// TestConditionFolded: condition changes a subscriber did not read are
// folded into one, with the Previous it saw; folding is no drop (no
// DropEvent).
func TestConditionFolded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		ch := r.m.Subscribe(t.Context())
		errSock := errors.New("socket failed")
		const n = 40
		for i := range n {
			time.Sleep(time.Millisecond)
			c := netpulse.Condition{OK: i%2 == 1}
			if !c.OK {
				c.Err = errSock
			}
			r.links.send(&netpulse.ConditionEvent{Time: time.Now(), Condition: c})
		}
		var conds int
		var prev *netpulse.ConditionEvent
		for len(ch) > 0 {
			switch e := (<-ch).(type) {
			case *netpulse.ConditionEvent:
				conds++
				if prev != nil {
					require.Equal(t, prev.Condition, e.Previous)
				}
				prev = e
			default:
				t.Fatalf("unexpected %T", e)
			}
			synctest.Wait()
		}
		require.Less(t, conds, n, "folded")
		require.Greater(t, conds, subscribeBuffer, "the channel's buffer, then the folded latest")
		require.True(t, prev.Condition.OK, "the latest condition")
		require.Equal(t, netpulse.ReasonWorking, prev.Reason)
	})
}

// otherEvent is an event type the Monitor does not know.
type otherEvent struct{ time.Time }

func (e *otherEvent) EventTime() time.Time { return e.Time }

// TestForeignEvents: events of a source that carry no evidence (a link
// event on the IP source, or a type the Monitor does not know) change
// nothing.
func TestForeignEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(&otherEvent{time.Now()})
		r.links.send(verdict("eth2", vDead))
		r.ips.send(up(2, "eth2"))
		r.ips.send(&otherEvent{time.Now()})
		require.Empty(t, r.observed())
		require.Empty(t, r.m.Snapshot())
	})
}

// TestFoldEvents: a change folds into a waiting change of the same
// interface (the newer evidence, the older Previous, Coalesced summed), into
// a copy; an initial event is never folded into; condition changes fold
// with the older Previous.
func TestFoldEvents(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	a := &EvidenceEvent{Time: t0, Evidence: ev(2, "eth2", sDown, vUnknown), Previous: ev(2, "eth2", sUp, vUnknown), Coalesced: 2}
	b := &EvidenceEvent{Time: t0.Add(time.Second), Evidence: ev(2, "eth2", sUp, vAlive), Previous: a.Evidence, Coalesced: 1}
	bCopy := *b
	got, ok := foldEvents(a, b)
	require.True(t, ok)
	require.Equal(t, &EvidenceEvent{Time: b.Time, Evidence: b.Evidence, Previous: a.Previous, Coalesced: 4}, got)
	require.Equal(t, bCopy, *b, "a published event is never modified")
	require.Equal(t, "eth2", eventKey(got))

	init := &EvidenceEvent{Time: t0, Evidence: ev(2, "eth2", sUp, vUnknown), Initial: true}
	got, ok = foldEvents(init, b)
	require.False(t, ok, "an initial event stays as it is")
	require.Same(t, init, got)

	c1 := &netpulse.ConditionEvent{Time: t0, Condition: netpulse.Condition{}, Previous: netpulse.Condition{OK: true}}
	c2 := &netpulse.ConditionEvent{Time: t0.Add(time.Second), Condition: netpulse.Condition{OK: true}, Previous: c1.Condition}
	got, ok = foldEvents(c1, c2)
	require.True(t, ok)
	require.Equal(t, &netpulse.ConditionEvent{Time: c2.Time, Condition: c2.Condition, Previous: c1.Previous}, got)
	require.Empty(t, eventKey(got), "the condition's key is no interface's name")
}

// TestSubscribeCap: a subscriber that stops reading loses, past its
// queue's cap, the oldest events and is told how many by a DropEvent just
// before the next event (internal/fanout's tests show that superseded
// events go first).
func TestSubscribeCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := newFake()
		const limit = 4
		m, err := newMonitor(context.Background(), &Config{Links: links}, limit)
		require.NoError(t, err)
		defer m.Close()
		ch := m.Subscribe(t.Context())
		// The channel's buffer fills; the hub's forwarder takes the next
		// event, waiting for room; then the queue fills, with one event for
		// each of limit+extra more interfaces: nothing folds (each is the
		// latest of its interface), so the oldest extra are dropped.
		var names []string
		for i := range subscribeBuffer {
			n := fmt.Sprintf("b%d", i)
			names = append(names, n)
			links.send(up(100+i, n))
		}
		require.Len(t, ch, subscribeBuffer)
		const extra = 3
		for i := range 1 + limit + extra {
			n := fmt.Sprintf("q%d", i)
			names = append(names, n)
			links.send(up(200+i, n))
		}
		var got []string
		var drops []*netpulse.DropEvent
		for len(ch) > 0 {
			switch e := (<-ch).(type) {
			case *EvidenceEvent:
				got = append(got, e.Evidence.Interface.Name)
			case *netpulse.DropEvent:
				drops = append(drops, e)
				require.Len(t, got, subscribeBuffer+1, "just before the next event after the drops")
			default:
				t.Fatalf("unexpected %T", e)
			}
			synctest.Wait()
		}
		require.Len(t, drops, 1)
		require.Equal(t, uint64(extra), drops[0].Count)
		require.False(t, drops[0].Time.IsZero())
		want := append(names[:subscribeBuffer+1:subscribeBuffer+1], names[subscribeBuffer+1+extra:]...)
		require.Equal(t, want, got, "the oldest waiting events are dropped")
		require.Len(t, m.Snapshot(), subscribeBuffer+1+limit+extra, "the Monitor's state loses nothing")
	})
}

// TestConcurrentUse: Subscribe, Feed, Snapshot and Close from many
// goroutines while the sources send (run with -race); every subscription
// ends with Close and no goroutine is left (goleak in TestMain).
func TestConcurrentUse(t *testing.T) {
	links, ips := newFake(), newFake()
	m, err := New(context.Background(), &Config{Links: links, Probes: ips})
	require.NoError(t, err)
	stop := make(chan struct{})
	var senders, users sync.WaitGroup
	senders.Add(2)
	go func() {
		defer senders.Done()
		for i := 0; ; i++ {
			select {
			case links.in <- up(2+i%3, "eth2"):
			case <-stop:
				return
			}
		}
	}()
	go func() {
		defer senders.Done()
		for i := 0; ; i++ {
			select {
			case ips.in <- verdict("eth2", netpulse.Verdict(i%4)):
			case <-stop:
				return
			}
		}
	}()
	for range 4 {
		users.Add(1)
		go func() {
			defer users.Done()
			ch := m.Subscribe(context.Background())
			_ = m.Feed(context.Background(), &recorder{})
			ctx, cancel := context.WithCancel(context.Background())
			_ = m.Feed(ctx, &recorder{})
			cancel()
			_ = m.Snapshot()
			for range ch {
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, m.Close())
	users.Wait() // every subscription was closed
	close(stop)
	senders.Wait()
}
