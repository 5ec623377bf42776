package health

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a LinkSource and an IPSource: what the test sends, it hands
// to its one subscriber, in order.
type fakeSource struct {
	in chan netpulse.Event
}

func newFake() *fakeSource { return &fakeSource{in: make(chan netpulse.Event)} }

func (f *fakeSource) Subscribe(ctx context.Context) <-chan netpulse.Event {
	out := make(chan netpulse.Event)
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-f.in:
				if !ok {
					return
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// send hands ev to the subscriber and waits until the Monitor applied it
// (every goroutine of the bubble is blocked again).
func (f *fakeSource) send(ev netpulse.Event) {
	f.in <- ev
	synctest.Wait()
}

// end ends the subscription, as a closed source does.
func (f *fakeSource) end() {
	close(f.in)
	synctest.Wait()
}

// recorder is an Observer that records what it observes.
type recorder struct {
	mu  sync.Mutex
	got []netpulse.Evidence
}

func (r *recorder) Observe(e netpulse.Evidence) {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
}

// take returns what was observed since the last take.
func (r *recorder) take() []netpulse.Evidence {
	synctest.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func ifc(i int, name string) netpulse.Interface { return netpulse.Interface{Index: i, Name: name} }

// link is a linkmon event reporting the state s.
func link(s linkmon.State) *linkmon.LinkEvent { return &linkmon.LinkEvent{State: s} }

// up is a link with carrier and admin up.
func up(i int, name string) *linkmon.LinkEvent {
	return link(linkmon.State{Index: i, Name: name, Present: true, AdminUp: true, Carrier: true})
}

// noCarrier is a link that lost carrier.
func noCarrier(i int, name string) *linkmon.LinkEvent {
	return link(linkmon.State{Index: i, Name: name, Present: true, AdminUp: true})
}

// deleted is a deletion of a link.
func deleted(i int, name string) *linkmon.LinkEvent {
	l := link(linkmon.State{Index: i, Name: name})
	l.Previous = linkmon.State{Index: i, Name: name, Present: true, AdminUp: true}
	return l
}

// renamed is a link renamed from old to name.
func renamed(i int, old, name string) *linkmon.LinkEvent {
	l := up(i, name)
	l.Previous = linkmon.State{Index: i, Name: old, Present: true, AdminUp: true, Carrier: true}
	return l
}

// verdict is an ipmon verdict about the interface name.
func verdict(name string, v netpulse.Verdict) *ipmon.VerdictEvent {
	return &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: name}, Verdict: v}
}

// ev is the evidence of an interface, without time (see strip).
func ev(i int, name string, link netpulse.State, ip netpulse.Verdict) netpulse.Evidence {
	return netpulse.Evidence{Interface: ifc(i, name), Link: link, IP: ip}
}

// strip drops the times, which the tests do not check one by one.
func strip(es []netpulse.Evidence) []netpulse.Evidence {
	for i := range es {
		es[i].Time = time.Time{}
	}
	return es
}

// rig is a Monitor over fake sources, fed into a recorder.
type rig struct {
	links, ips *fakeSource
	m          *Monitor
	r          *recorder
}

// newRig returns a rig with a link source, an IP source or both; only is
// Config.Interfaces. The caller closes r.m.
func newRig(t *testing.T, links, ips bool, only ...string) *rig {
	t.Helper()
	r := &rig{r: &recorder{}}
	cfg := &Config{Interfaces: only}
	if links {
		r.links = newFake()
		cfg.Links = r.links
	}
	if ips {
		r.ips = newFake()
		cfg.Probes = r.ips
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	if err := m.Feed(context.Background(), r.r); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	return r
}

// observed returns what the Feed observed since the last call, without
// times.
func (r *rig) observed() []netpulse.Evidence { return strip(r.r.take()) }
