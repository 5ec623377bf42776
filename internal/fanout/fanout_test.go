package fanout

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ev is a linkmon-style event: a final event (a deletion) is never merged
// away.
type ev struct {
	key, val, from int
	final          bool
}

func evKey(e ev) int { return e.key }

func merge(old, new ev) (ev, bool) {
	if old.final {
		return old, false
	}
	new.from = old.from
	return new, true
}

func TestOrderAndCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(2, evKey, merge)
		defer h.Close()
		ctx := context.Background()
		ch := h.Subscribe(ctx, []ev{{key: 1, val: 0}, {key: 2, val: 0}})
		// The buffer (2) holds the initial events; the rest waits and is
		// merged per key.
		for v := 1; v <= 10; v++ {
			h.Publish(ev{key: 1, val: v, from: v - 1})
			h.Publish(ev{key: 2, val: v, from: v - 1})
		}
		synctest.Wait()
		var got []ev
		for range 4 {
			got = append(got, <-ch)
		}
		// Initial events, then the forwarder's in-flight events of keys 1
		// and 2 (their first waiting values), then everything merged.
		require.Equal(t, ev{key: 1, val: 0}, got[0])
		require.Equal(t, ev{key: 2, val: 0}, got[1])
		synctest.Wait()
		for len(ch) > 0 {
			got = append(got, <-ch)
		}
		last := map[int]ev{}
		for _, e := range got {
			if l, ok := last[e.key]; ok {
				require.Equal(t, l.val, e.from, "events of a key chain: %v", got)
				require.Greater(t, e.val, l.val)
			}
			last[e.key] = e
		}
		require.Equal(t, 10, last[1].val)
		require.Equal(t, 10, last[2].val)
		require.Positive(t, h.Coalesced())
	})
}

func TestMergeRefusedKeepsBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(1, evKey, merge)
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		h.Publish(ev{key: 1, val: 1})              // into the buffer
		h.Publish(ev{key: 1, val: 2, final: true}) // waits
		h.Publish(ev{key: 1, val: 3})              // not merged into the final one
		var got []int
		for range 3 {
			got = append(got, (<-ch).val)
		}
		require.Equal(t, []int{1, 2, 3}, got)
	})
}

// TestMergeAfterRefusal: once merge refused, later events of the key merge
// into the newest waiting one, also after older waiting items were
// delivered.
func TestMergeAfterRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(0, evKey, merge)
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		h.Publish(ev{key: 1, val: 1}) // the forwarder takes it, blocks sending
		synctest.Wait()
		h.Publish(ev{key: 2, val: 1, from: 0})
		h.Publish(ev{key: 1, val: 2, final: true, from: 1})
		h.Publish(ev{key: 1, val: 3, from: 2}) // behind the final one
		h.Publish(ev{key: 1, val: 4, from: 3}) // merged into val 3
		require.Equal(t, 1, (<-ch).val)
		require.Equal(t, ev{key: 2, val: 1}, <-ch)
		require.Equal(t, ev{key: 1, val: 2, final: true, from: 1}, <-ch)
		synctest.Wait()                        // val 3+4 is in flight now
		h.Publish(ev{key: 2, val: 2, from: 1}) // key 2 waits alone
		h.Publish(ev{key: 2, val: 3, from: 2}) // merged
		require.Equal(t, ev{key: 1, val: 4, from: 2}, <-ch)
		require.Equal(t, ev{key: 2, val: 3, from: 1}, <-ch)
		require.Equal(t, uint64(2), h.Coalesced())
	})
}

func TestNilMergeKeepsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New[int, ev](0, evKey, nil)
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		for v := range 5 {
			h.Publish(ev{key: 1, val: v})
		}
		for v := range 5 {
			require.Equal(t, v, (<-ch).val)
		}
		require.Zero(t, h.Coalesced())
	})
}

// TestLongBacklog: a subscriber that never quite catches up (its queue
// stays non-empty, grows and shrinks, and is compacted) still gets the
// latest event of every key, every final event, and each key's events in
// order and chained (each one's from is the previous one's val).
func TestLongBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(1, evKey, merge)
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		prev := map[int]int{} // key -> last published val
		finals := map[int]bool{}
		var got []ev
		recv := func() {
			synctest.Wait()
			got = append(got, <-ch)
		}
		maxCap := 0
		for v := 1; v <= 3000; v++ {
			k := v % 7
			final := v%5 == 0
			h.Publish(ev{key: k, val: v, from: prev[k], final: final})
			prev[k] = v
			if final {
				finals[v] = true
			}
			switch {
			case v <= 1500 && v%3 == 0, v > 1500 && v%3 != 0:
				recv() // behind, then catching up
			}
			h.mu.Lock()
			s := h.subs[0]
			h.mu.Unlock()
			s.mu.Lock()
			maxCap = max(maxCap, cap(s.queue))
			s.mu.Unlock()
		}
		for {
			synctest.Wait()
			if len(ch) == 0 {
				break
			}
			got = append(got, <-ch)
		}
		last := map[int]int{}
		for _, e := range got {
			require.Equal(t, last[e.key], e.from, "key %d chain", e.key)
			require.Greater(t, e.val, last[e.key])
			last[e.key] = e.val
			delete(finals, e.val)
		}
		require.Empty(t, finals, "final events lost")
		require.Equal(t, prev, last, "latest of every key")
		require.Positive(t, h.Coalesced())
		require.Less(t, maxCap, 3000, "queue compacted")
		t.Logf("%d events delivered, %d coalesced, max queue capacity %d", len(got), h.Coalesced(), maxCap)
	})
}

func TestStuckSubscriberDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(1, evKey, merge)
		defer h.Close()
		_ = h.Subscribe(context.Background(), nil) // never read
		ch := h.Subscribe(context.Background(), nil)
		for v := range 1000 {
			h.Publish(ev{key: v % 3, val: v})
			require.Equal(t, v, (<-ch).val)
		}
	})
}

func TestCancelAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(1, evKey, merge)
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.Subscribe(ctx, nil)
		h.Publish(ev{key: 1})
		h.Publish(ev{key: 1, val: 1})
		cancel()
		synctest.Wait()
		require.Equal(t, 0, h.Len())
		for range ch { // drains the buffer, then closed
		}
		ch2 := h.Subscribe(context.Background(), nil)
		h.Close()
		h.Close()
		_, ok := <-ch2
		require.False(t, ok)
		_, ok = <-h.Subscribe(context.Background(), nil)
		require.False(t, ok, "subscribing after Close gives a closed channel")
		h.Publish(ev{}) // no subscribers: no-op
	})
}

// TestFastPathAllocs: an event for a subscriber that keeps up costs no
// allocation.
func TestFastPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	h := New(64, evKey, merge)
	defer h.Close()
	ch := h.Subscribe(context.Background(), nil)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		h.Publish(ev{key: i & 7, val: i})
		<-ch
		i++
	})
	require.Zero(t, allocs)
}

// iev is an ipmon-style event: merge folds the older one into the newer,
// counting the folds in the event.
type iev struct {
	k, v, prev, folded int
}

func newIHub() *Hub[int, iev] {
	return New(0, func(e iev) int { return e.k }, func(old, new iev) (iev, bool) {
		new.prev = old.prev
		new.folded = old.folded + 1
		return new, true
	})
}

func TestCoalesceAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newIHub()
		defer h.Close()
		ch := h.Subscribe(context.Background(), []iev{{k: 1, v: 0}})
		for v := 1; v <= 100; v++ {
			h.Publish(iev{k: 1, v: v, prev: v - 1})
			h.Publish(iev{k: 2, v: v, prev: v - 1})
		}
		synctest.Wait()
		// The forwarding goroutine may hold one event already popped; every
		// other change is folded into the latest per key.
		var got []iev
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
		last := map[int]iev{}
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
		if c := h.Coalesced(); c != uint64(folded) {
			t.Fatalf("Coalesced() = %d, events folded %d", c, folded)
		}
		h.Publish(iev{k: 1, v: 101, prev: 100})
		if c := <-ch; c.v != 101 || c.folded != 0 {
			t.Fatalf("after drain: %+v", c)
		}
		h.Close()
		if _, ok := <-ch; ok {
			t.Fatal("channel not closed")
		}
		if _, ok := <-h.Subscribe(context.Background(), nil); ok {
			t.Fatal("subscribe after close: channel not closed")
		}
	})
}

func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newIHub()
		defer h.Close()
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.Subscribe(ctx, nil)
		h.Publish(iev{k: 1})
		cancel()
		synctest.Wait()
		require.Equal(t, 0, h.Len())
		for range ch {
		}
		h.Publish(iev{k: 2}) // no subscriber left: must not block
	})
}
