package ipmon

// targetHeap is a binary min-heap of targets ordered by due time. It is
// written out (not container/heap) so that the hot path does no interface
// conversions.
type targetHeap []*target

func (h *targetHeap) push(t *target) {
	t.heapIdx = len(*h)
	*h = append(*h, t)
	h.up(t.heapIdx)
}

func (h *targetHeap) remove(t *target) {
	i := t.heapIdx
	if i < 0 || i >= len(*h) || (*h)[i] != t {
		return
	}
	last := len(*h) - 1
	h.swap(i, last)
	(*h)[last] = nil
	*h = (*h)[:last]
	t.heapIdx = -1
	if i < last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *targetHeap) fix(t *target) {
	i := t.heapIdx
	if i < 0 || i >= len(*h) || (*h)[i] != t {
		return
	}
	if !h.down(i) {
		h.up(i)
	}
}

func (h targetHeap) less(i, j int) bool { return h[i].due.Before(h[j].due) }

func (h targetHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h targetHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h targetHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
