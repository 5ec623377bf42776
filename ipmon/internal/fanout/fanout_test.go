package fanout

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ev struct {
	k, v, prev, folded int
}

func newHub(wg *sync.WaitGroup, done chan struct{}) *Hub[int, ev] {
	return New(func(e *ev) int { return e.k }, func(old, new *ev) {
		new.prev = old.prev
		new.folded = old.folded + 1
	}, wg, done)
}

func TestCoalesceAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		done := make(chan struct{})
		closed := false
		defer func() {
			if !closed {
				close(done)
			}
		}()
		h := newHub(&wg, done)
		ch := h.Subscribe(context.Background(), []ev{{k: 1, v: 0}})
		for v := 1; v <= 100; v++ {
			h.Publish(ev{k: 1, v: v, prev: v - 1})
			h.Publish(ev{k: 2, v: v, prev: v - 1})
		}
		synctest.Wait()
		// The feeding goroutine may hold one event already popped; every
		// other change is folded into the latest per key.
		var got []ev
		for {
			synctest.Wait()
			select {
			case e := <-ch:
				got = append(got, e)
				continue
			default:
			}
			break
		}
		if len(got) > 3 {
			t.Fatalf("not coalesced: %d events: %+v", len(got), got)
		}
		last := map[int]ev{}
		folded := 0
		for _, e := range got {
			last[e.k] = e
			folded += e.folded
		}
		if last[1].v != 100 || last[2].v != 100 {
			t.Fatalf("latest state lost: %+v", got)
		}
		if folded+len(got) != 201 {
			t.Fatalf("events %d + folded %d != 201 published", len(got), folded)
		}
		h.Publish(ev{k: 1, v: 101, prev: 100})
		if c := <-ch; c.v != 101 || c.folded != 0 {
			t.Fatalf("after drain: %+v", c)
		}
		close(done)
		closed = true
		wg.Wait()
		if _, ok := <-ch; ok {
			t.Fatal("channel not closed")
		}
		if _, ok := <-h.Subscribe(context.Background(), nil); ok {
			t.Fatal("subscribe after done: channel not closed")
		}
	})
}

func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		done := make(chan struct{})
		defer close(done)
		h := newHub(&wg, done)
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.Subscribe(ctx, nil)
		h.Publish(ev{k: 1})
		cancel()
		wg.Wait()
		for range ch {
		}
		h.Publish(ev{k: 2}) // no subscriber left: must not block
	})
}
