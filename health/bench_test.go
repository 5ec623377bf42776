package health

import (
	"context"
	"testing"

	"github.com/netpulse/netpulse"
)

// chanObserver hands what it observes to a reader.
type chanObserver chan netpulse.Evidence

func (c chanObserver) Observe(e netpulse.Evidence) { c <- e }

// BenchmarkEvidenceToSubscriber: a link source's event (a carrier flap of
// one interface) to a subscriber receiving the Monitor's EvidenceEvent,
// one change at a time. The source is the tests' channel relay (one
// goroutine hop, as a real source's subscription has); what is measured is
// the Monitor's decoding, bookkeeping and delivery.
func BenchmarkEvidenceToSubscriber(b *testing.B) {
	links := newFake()
	m, err := New(context.Background(), &Config{Links: links})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ch := m.Subscribe(context.Background())
	evs := [2]netpulse.Event{noCarrier(2, "eth2"), up(2, "eth2")}
	links.in <- evs[1]
	<-ch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		links.in <- evs[i&1]
		<-ch
		i++
	}
}

// BenchmarkEvidenceToFeed: the same change to an Observer fed by Feed.
func BenchmarkEvidenceToFeed(b *testing.B) {
	links := newFake()
	m, err := New(context.Background(), &Config{Links: links})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	o := make(chanObserver)
	if err := m.Feed(context.Background(), o); err != nil {
		b.Fatal(err)
	}
	evs := [2]netpulse.Event{noCarrier(2, "eth2"), up(2, "eth2")}
	links.in <- evs[1]
	<-o
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		links.in <- evs[i&1]
		<-o
		i++
	}
}
