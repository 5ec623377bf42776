package fanout

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// mev is ev with the drop count a WithDropMark function stamps on it.
type mev struct {
	ev
	dropped uint64
}

func mevKey(e mev) int { return e.key }

func mmerge(old, new mev) (mev, bool) {
	e, ok := merge(old.ev, new.ev)
	return mev{ev: e, dropped: old.dropped + new.dropped}, ok
}

func mark(e mev, n uint64) mev { e.dropped += n; return e }

// waiting returns the subscriber's queue length and capacity.
func waiting[K comparable, E any](h *Hub[K, E]) (n, capacity int) {
	h.mu.Lock()
	s := h.subs[0]
	h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) - s.head, cap(s.queue)
}

// TestLimitChurnStuckSubscriber (#12.8): a subscriber that never reads and
// never cancels, under churn of deletions of ever new keys (nothing can be
// merged): its queue stays at the cap, the oldest events are dropped and
// counted, and when it reads again the first event it gets says how many
// it lost; then it gets the newest events, in order.
func TestLimitChurnStuckSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, n = 8, 100_000
		h := New(1, mevKey, mmerge, WithLimit[mev](limit), WithDropMark(mark))
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		maxCap := 0
		for v := range n {
			h.Publish(mev{ev: ev{key: v, val: v, final: true}})
			if v%1000 == 0 {
				synctest.Wait()
				w, c := waiting(h)
				require.LessOrEqual(t, w, limit)
				maxCap = max(maxCap, c)
			}
		}
		synctest.Wait()
		require.LessOrEqual(t, maxCap, 4*limit, "the queue's memory is bounded")
		// Received: what sat in the channel and in the forwarder's hands,
		// and the newest limit events; each drop is told on the first event
		// received after it.
		var got []int
		var told uint64
		for {
			synctest.Wait()
			select {
			case e := <-ch:
				got = append(got, e.val)
				told += e.dropped
				continue
			default:
			}
			break
		}
		require.LessOrEqual(t, len(got), limit+2)
		require.Equal(t, uint64(n-len(got)), h.Dropped())
		require.Equal(t, h.Dropped(), told, "the subscriber is told what it lost")
		require.IsIncreasing(t, got)
		for i, v := range got[len(got)-limit:] {
			require.Equal(t, n-limit+i, v, "the newest are kept, the oldest dropped")
		}
	})
}

// TestLimitKeepsLatestOfEveryKey: while fewer keys wait than the cap, the
// cap drops superseded events (a deletion that a re-creation of its key
// follows), never the latest event of a key.
func TestLimitKeepsLatestOfEveryKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, keys = 8, 5
		h := New(0, mevKey, mmerge, WithLimit[mev](limit), WithDropMark(mark))
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		latest := map[int]int{}
		v := 0
		for range 200 {
			for k := range keys {
				v++
				// Deleted, then back: the deletion cannot be merged.
				h.Publish(mev{ev: ev{key: k, val: v, final: true}})
				v++
				h.Publish(mev{ev: ev{key: k, val: v}})
				latest[k] = v
			}
		}
		synctest.Wait()
		w, _ := waiting(h)
		require.LessOrEqual(t, w, limit)
		require.Positive(t, h.Dropped())
		got := map[int]int{}
		var dropped uint64
		for {
			synctest.Wait()
			select {
			case e := <-ch:
				require.Greater(t, e.val, got[e.key], "order per key")
				got[e.key] = e.val
				dropped += e.dropped
				continue
			default:
			}
			break
		}
		require.Equal(t, latest, got, "the latest event of every key")
		require.Equal(t, h.Dropped(), dropped, "every drop told")
	})
}

// TestLimitAtLeastTwiceInitial: a subscription's replay of a table larger
// than the cap is not dropped.
func TestLimitAtLeastTwiceInitial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(0, mevKey, mmerge, WithLimit[mev](4))
		defer h.Close()
		initial := make([]mev, 100)
		for i := range initial {
			initial[i] = mev{ev: ev{key: i, val: i}}
		}
		ch := h.Subscribe(context.Background(), initial)
		for i := range initial {
			require.Equal(t, i, (<-ch).val)
		}
		require.Zero(t, h.Dropped())
	})
}

// TestDefaultLimit: a hub without options is capped at DefaultLimit.
func TestDefaultLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(0, evKey, merge)
		defer h.Close()
		_ = h.Subscribe(context.Background(), nil)
		for v := range DefaultLimit + 100 {
			h.Publish(ev{key: v, val: v, final: true})
		}
		synctest.Wait()
		w, _ := waiting(h)
		require.Equal(t, DefaultLimit, w)
		require.Equal(t, uint64(100-1), h.Dropped(), "one held by the forwarder")
	})
}

// checkInvariants recomputes what the queue's bookkeeping must say.
func checkInvariants[K comparable, E any](t *testing.T, h *Hub[K, E]) {
	t.Helper()
	h.mu.Lock()
	s := h.subs[0]
	h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.LessOrEqual(t, len(s.queue)-s.head, s.limit)
	lastPos := map[K]uint64{}
	for j := s.head; j < len(s.queue); j++ {
		lastPos[s.queue[j].key] = s.off + uint64(j)
	}
	require.Equal(t, len(lastPos), len(s.last), "one last position per waiting key")
	for k, p := range lastPos {
		require.Equal(t, p, s.last[k], "last position of key %v", k)
	}
	require.Equal(t, len(s.queue)-s.head-len(lastPos), s.superseded, "superseded count")
}

// TestLimitRandomSequences: random publishes (keys, deletions) and reads
// against a small cap keep the queue's bookkeeping exact, each key's events
// in order, and every drop told.
func TestLimitRandomSequences(t *testing.T) {
	for seed := range 20 {
		synctest.Test(t, func(t *testing.T) {
			rnd := uint64(seed*7919 + 1)
			next := func(n int) int { // xorshift: reproducible per seed
				rnd ^= rnd << 13
				rnd ^= rnd >> 7
				rnd ^= rnd << 17
				return int(rnd % uint64(n))
			}
			h := New(next(3), mevKey, mmerge, WithLimit[mev](1+next(6)), WithDropMark(mark))
			defer h.Close()
			ch := h.Subscribe(context.Background(), nil)
			got := map[int]int{}
			var told uint64
			recv := func() {
				synctest.Wait()
				select {
				case e := <-ch:
					require.Greater(t, e.val, got[e.key], "order per key")
					got[e.key] = e.val
					told += e.dropped
				default:
				}
			}
			for v := 1; v <= 3000; v++ {
				h.Publish(mev{ev: ev{key: next(10), val: v, final: next(3) == 0}})
				if next(4) == 0 {
					recv()
				}
				synctest.Wait()
				checkInvariants(t, h)
			}
			for range 3000 {
				recv()
			}
			require.Equal(t, h.Dropped(), told, "seed %d", seed)
		})
	}
}

// TestDropEventPrecedesNext: with WithDropEvent, a subscriber that fell
// behind the cap receives one notice, carrying the count and the time of
// the first drop, just before the next event that fit; the notices over the
// run add up to Hub.Dropped.
func TestDropEventPrecedesNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, n = 4, 50
		start := time.Now()
		notice := func(d uint64, first time.Time) mev {
			require.False(t, first.Before(start), "the time of the first drop")
			return mev{ev: ev{key: -1}, dropped: d}
		}
		h := New(0, mevKey, mmerge, WithLimit[mev](limit), WithDropEvent(notice))
		defer h.Close()
		ch := h.Subscribe(context.Background(), nil)
		for v := range n {
			h.Publish(mev{ev: ev{key: v, val: v, final: true}})
		}
		synctest.Wait()
		var got []int
		var told uint64
		notices := 0
		prevNotice := false
		for {
			synctest.Wait()
			select {
			case e := <-ch:
				if e.key == -1 {
					require.False(t, prevNotice, "one notice, then an event")
					told += e.dropped
					notices++
					prevNotice = true
					continue
				}
				require.Zero(t, e.dropped, "the event itself is not marked")
				prevNotice = false
				got = append(got, e.val)
				continue
			default:
			}
			break
		}
		require.False(t, prevNotice, "a notice is followed by the event that fit")
		require.Positive(t, notices)
		require.Equal(t, h.Dropped(), told, "every drop told")
		require.Equal(t, uint64(n-len(got)), told)
		require.IsIncreasing(t, got)
	})
}
