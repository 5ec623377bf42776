package health

import (
	"context"
	"errors"
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

// TestSubscribeFallsBehind: a subscriber that does not read gets, when it
// reads again, every event that fitted, a DropEvent counting the events
// folded, and the latest evidence of every interface; nothing is lost
// silently.
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
		var events, dropped int
		var last netpulse.Evidence
		var prev *EvidenceEvent
		for len(ch) > 0 {
			switch e := (<-ch).(type) {
			case *EvidenceEvent:
				events++
				if e.Evidence.Interface.Name == "eth2" {
					if prev != nil {
						require.Equal(t, prev.Evidence, e.Previous, "Previous is what the subscriber saw")
					}
					prev = e
				} else {
					last = e.Evidence
				}
			case *netpulse.DropEvent:
				require.Positive(t, e.Count)
				require.False(t, e.Time.IsZero())
				dropped += int(e.Count)
			default:
				t.Fatalf("unexpected %T", e)
			}
			synctest.Wait()
		}
		require.Positive(t, dropped)
		require.Equal(t, n+1, events+dropped, "every event delivered or counted")
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

// TestFeed: a Feed starts with the current evidence of every interface;
// Feed of nil or after Close is an error.
func TestFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		r.links.send(up(3, "eth3"))
		r.ips.send(verdict("eth3", vAlive))
		r.links.send(up(2, "eth2"))
		late := &recorder{}
		require.NoError(t, r.m.Feed(late))
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown), ev(3, "eth3", sUp, vAlive)}, strip(late.take()))
		require.ErrorIs(t, r.m.Feed(nil), os.ErrInvalid)
		require.NoError(t, r.m.Close())
		require.ErrorIs(t, r.m.Feed(late), net.ErrClosed)
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
		require.NoError(t, r.m.Feed(b))
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
// folded into one, with the Previous it saw and the count in a DropEvent.
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
		var conds, dropped int
		var prev *netpulse.ConditionEvent
		for len(ch) > 0 {
			switch e := (<-ch).(type) {
			case *netpulse.ConditionEvent:
				conds++
				if prev != nil {
					require.Equal(t, prev.Condition, e.Previous)
				}
				prev = e
			case *netpulse.DropEvent:
				dropped += int(e.Count)
			default:
				t.Fatalf("unexpected %T", e)
			}
			synctest.Wait()
		}
		require.Positive(t, dropped)
		require.Equal(t, n, conds+dropped)
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

// TestAddLost: the mark of the fan-out cap counts the dropped events on the
// next delivery, from the time of the first loss.
func TestAddLost(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	e := &EvidenceEvent{Time: t0}
	d := delivery{ev: e}.addLost(3)
	require.Equal(t, delivery{ev: e, lost: 3, lostAt: t0}, d)
	d.ev = &EvidenceEvent{Time: t0.Add(time.Second)}
	require.Equal(t, delivery{ev: d.ev, lost: 5, lostAt: t0}, d.addLost(2))
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
			_ = m.Feed(&recorder{})
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
