// Package routetest provides fakes of the route package for consumers'
// tests that run without a kernel: a concurrency-safe Health source, a
// View backed by an in-memory route.Table (the same lookup and selection
// code as the real View), and a Steerer that records the health it is fed
// and delivers the events a test injects.
package routetest

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/netpulse/netpulse/route"
)

// Health is a concurrency-safe route.HealthSource. The zero value is ready
// to use; every interface starts unknown (healthy).
type Health struct {
	mu sync.RWMutex
	m  map[int]route.Health
}

// Health returns the health of the interface index.
func (h *Health) Health(index int) route.Health {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.m[index]
}

// Set sets both levels.
func (h *Health) Set(index int, v route.Health) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[int]route.Health{}
	}
	h.m[index] = v
}

// SetLink sets the link level.
func (h *Health) SetLink(index int, s route.State) {
	v := h.Health(index)
	v.Link = s
	h.Set(index, v)
}

// SetIP sets the IP level.
func (h *Health) SetIP(index int, s route.State) {
	v := h.Health(index)
	v.IP = s
	h.Set(index, v)
}

// View is an in-memory stand-in for route.View: the test adds routes,
// links and addresses; Lookup and Select answer with the route package's
// own logic. It is safe for concurrent use.
type View struct {
	mu   sync.RWMutex
	t    *route.Table
	subs []chan struct{}
}

// NewView returns an empty View.
func NewView() *View { return &View{t: route.NewTable()} }

// Update runs fn with the table under the write lock, then notifies
// subscribers.
func (v *View) Update(fn func(t *route.Table)) {
	v.mu.Lock()
	fn(v.t)
	subs := slices.Clone(v.subs)
	v.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// AddRoute adds a route (after routes of its prefix with a metric not
// above its own, like the kernel's append).
func (v *View) AddRoute(r route.Route) { v.Update(func(t *route.Table) { t.Add(r) }) }

// DeleteRoute deletes a route and reports whether it was there.
func (v *View) DeleteRoute(r route.Route) bool {
	var ok bool
	v.Update(func(t *route.Table) { ok = t.Delete(r) })
	return ok
}

// SetLink adds or updates a link.
func (v *View) SetLink(l route.Link) { v.Update(func(t *route.Table) { t.SetLink(l) }) }

// AddAddress adds an address.
func (v *View) AddAddress(a route.Address) { v.Update(func(t *route.Table) { t.AddAddress(a) }) }

// SetPreference sets the interface preference of Select.
func (v *View) SetPreference(names []string) {
	v.Update(func(t *route.Table) { t.SetPreference(names) })
}

// Lookup answers like route.View.Lookup.
func (v *View) Lookup(dst netip.Addr) (route.Route, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.t.Lookup(dst)
}

// Select answers like route.View.Select.
func (v *View) Select(dst netip.Addr, h route.HealthSource) (route.Selection, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.t.Select(dst, h)
}

// Read calls fn with the table under the read lock (table is ignored:
// the fake has one table).
func (v *View) Read(_ uint32, fn func(t *route.Table)) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	fn(v.t)
	return true
}

// Routes returns every route.
func (v *View) Routes() []route.Route {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.t.Routes()
}

// Subscribe returns a channel notified (coalesced) after each Update.
// The fake never closes it; cancel stops the notifications.
func (v *View) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	v.mu.Lock()
	v.subs = append(v.subs, ch)
	v.mu.Unlock()
	return ch, func() {
		v.mu.Lock()
		v.subs = slices.DeleteFunc(v.subs, func(c chan struct{}) bool { return c == ch })
		v.mu.Unlock()
	}
}

// HealthCall is one health update a Steerer received.
type HealthCall struct {
	Index int
	// Link and IP hold the level set; a level not set by the call is
	// StateUnknown and LinkSet/IPSet tell which were set.
	Link, IP       route.State
	LinkSet, IPSet bool
}

// Steerer records the health updates a consumer feeds a route.Steerer and
// delivers events the test injects with Emit. It is safe for concurrent
// use; Close closes Events.
type Steerer struct {
	mu     sync.Mutex
	calls  []HealthCall
	health Health
	events chan route.Event
	closed bool
}

// NewSteerer returns a Steerer whose Events channel holds buffer events.
func NewSteerer(buffer int) *Steerer {
	return &Steerer{events: make(chan route.Event, buffer)}
}

func (s *Steerer) record(c HealthCall) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// SetHealth records the call and sets the health.
func (s *Steerer) SetHealth(index int, h route.Health) {
	s.record(HealthCall{Index: index, Link: h.Link, IP: h.IP, LinkSet: true, IPSet: true})
	s.health.Set(index, h)
}

// SetLinkState records the call and sets the link level.
func (s *Steerer) SetLinkState(index int, st route.State) {
	s.record(HealthCall{Index: index, Link: st, LinkSet: true})
	s.health.SetLink(index, st)
}

// SetIPState records the call and sets the IP level.
func (s *Steerer) SetIPState(index int, st route.State) {
	s.record(HealthCall{Index: index, IP: st, IPSet: true})
	s.health.SetIP(index, st)
}

// Health returns the health last set for the interface.
func (s *Steerer) Health(index int) route.Health { return s.health.Health(index) }

// Calls returns the recorded health updates in order.
func (s *Steerer) Calls() []HealthCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Events returns the channel of injected events.
func (s *Steerer) Events() <-chan route.Event { return s.events }

// Emit delivers an event on Events; it reports false if the Steerer is
// closed or the buffer is full.
func (s *Steerer) Emit(ev route.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.events <- ev:
		return true
	default:
		return false
	}
}

// Close closes Events. It is idempotent.
func (s *Steerer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.events)
	}
	return nil
}
