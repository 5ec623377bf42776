package fanout

import (
	"context"
	"testing"
)

// BenchmarkFanoutPublishRecv: one subscriber with room in its channel (the
// linkmon case): the fast path and the receive.
func BenchmarkFanoutPublishRecv(b *testing.B) {
	h := New(64, evKey, merge)
	defer h.Close()
	ch := h.Subscribe(context.Background(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(ev{key: i & 7, val: i})
		<-ch
		i++
	}
}

// BenchmarkFanoutPublishRecvUnbuffered: the same with an unbuffered channel
// (the ipmon case): the event goes through the queue and the forwarder
// unless the receiver is already parked.
func BenchmarkFanoutPublishRecvUnbuffered(b *testing.B) {
	h := newIHub()
	defer h.Close()
	ch := h.Subscribe(context.Background(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(iev{k: i & 7, v: i})
		<-ch
		i++
	}
}

// BenchmarkFanoutPublish4Subs: four subscribers that keep up.
func BenchmarkFanoutPublish4Subs(b *testing.B) {
	h := New(64, evKey, merge)
	defer h.Close()
	var chs [4]<-chan ev
	for n := range chs {
		chs[n] = h.Subscribe(context.Background(), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(ev{key: i & 7, val: i})
		for _, ch := range chs {
			<-ch
		}
		i++
	}
}

// BenchmarkFanoutPublishStuck256Keys: a subscriber that never reads, 256
// keys: every event is merged into a waiting one.
func BenchmarkFanoutPublishStuck256Keys(b *testing.B) {
	h := New(64, evKey, merge)
	defer h.Close()
	_ = h.Subscribe(context.Background(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(ev{key: i & 255, val: i})
		i++
	}
}

// BenchmarkFanoutPublishStuck256KeysUnbuffered: the same, ipmon-style.
func BenchmarkFanoutPublishStuck256KeysUnbuffered(b *testing.B) {
	h := newIHub()
	defer h.Close()
	_ = h.Subscribe(context.Background(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(iev{k: i & 255, v: i})
		i++
	}
}

// BenchmarkFanoutPublishStuckChurn: a subscriber that never reads, under
// churn of deletions of ever new keys (nothing merges): every publish past
// the cap drops the oldest waiting event.
func BenchmarkFanoutPublishStuckChurn(b *testing.B) {
	h := New(64, evKey, merge)
	defer h.Close()
	_ = h.Subscribe(context.Background(), nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Publish(ev{key: i, val: i, final: true})
		i++
	}
}
