package fanout

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type ev struct {
	key, val, from int
	final          bool
}

func merge(old, new ev) (ev, bool) {
	if old.final {
		return old, false
	}
	new.from = old.from
	return new, true
}

func TestOrderAndCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New[ev](2, merge)
		defer h.Close()
		ctx := context.Background()
		ch := h.Subscribe(ctx, []int{1, 2}, []ev{{key: 1, val: 0}, {key: 2, val: 0}})
		// The buffer (2) holds the initial events; the rest waits and is
		// merged per key.
		for v := 1; v <= 10; v++ {
			h.Publish(1, ev{key: 1, val: v, from: v - 1})
			h.Publish(2, ev{key: 2, val: v, from: v - 1})
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
		h := New[ev](1, merge)
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil, nil)
		h.Publish(1, ev{key: 1, val: 1})              // into the buffer
		h.Publish(1, ev{key: 1, val: 2, final: true}) // waits
		h.Publish(1, ev{key: 1, val: 3})              // not merged into the final one
		var got []int
		for range 3 {
			got = append(got, (<-ch).val)
		}
		require.Equal(t, []int{1, 2, 3}, got)
	})
}

func TestStuckSubscriberDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New[ev](1, merge)
		defer h.Close()
		_ = h.Subscribe(context.Background(), nil, nil) // never read
		ch := h.Subscribe(context.Background(), nil, nil)
		for v := range 1000 {
			h.Publish(v%3, ev{key: v % 3, val: v})
			require.Equal(t, v, (<-ch).val)
		}
	})
}

func TestCancelAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New[ev](1, merge)
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.Subscribe(ctx, nil, nil)
		h.Publish(1, ev{key: 1})
		h.Publish(1, ev{key: 1, val: 1})
		cancel()
		synctest.Wait()
		require.Equal(t, 0, h.Len())
		for range ch { // drains the buffer, then closed
		}
		ch2 := h.Subscribe(context.Background(), nil, nil)
		h.Close()
		h.Close()
		_, ok := <-ch2
		require.False(t, ok)
		_, ok = <-h.Subscribe(context.Background(), nil, nil)
		require.False(t, ok, "subscribing after Close gives a closed channel")
		h.Publish(1, ev{}) // no subscribers: no-op
	})
}
