// Package routetest provides fakes of the route package for consumers'
// tests that run without a kernel: a concurrency-safe Health source, a
// View backed by an in-memory route.Table (the same lookup and selection
// code as the real View), and a Steerer that records the evidence it is
// fed and delivers the events a test injects (through the same delivery
// code as the real Steerer's events).
package routetest

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
	"github.com/netpulse/netpulse/route"
)

// Health is a concurrency-safe route.HealthSource. The zero value is ready
// to use; every interface starts unknown (healthy).
type Health struct {
	mu sync.RWMutex
	m  route.HealthMap
}

// Health returns the health of the interface index.
func (h *Health) Health(index int) netpulse.Health {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.m.Health(index)
}

// Set sets the health of the interface index.
func (h *Health) Set(index int, v netpulse.Health) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = route.HealthMap{}
	}
	h.m[index] = v
}

// View is an in-memory stand-in for route.View: the test adds routes,
// links and addresses; Lookup and Select answer with the route package's
// own logic, and subscribers receive a *route.ViewEvent per update,
// coalesced as route.View coalesces them. It is safe for concurrent use.
type View struct {
	mu  sync.RWMutex
	t   *route.Table
	hub *fanout.Hub[struct{}, netpulse.Event]
}

// NewView returns an empty View.
func NewView() *View {
	return &View{t: route.NewTable(), hub: fanout.New(1, func(netpulse.Event) struct{} { return struct{}{} },
		func(old, new netpulse.Event) (netpulse.Event, bool) {
			o, n := *old.(*route.ViewEvent), new.(*route.ViewEvent)
			o.Time, o.Routes, o.Links, o.Addresses = n.Time, o.Routes || n.Routes, o.Links || n.Links, o.Addresses || n.Addresses
			return &o, true
		})}
}

// Update runs fn with the table under the write lock, then notifies
// subscribers (a ViewEvent that says routes, links and addresses may have
// changed).
func (v *View) Update(fn func(t *route.Table)) {
	v.update(route.ViewEvent{Routes: true, Links: true, Addresses: true}, fn)
}

func (v *View) update(what route.ViewEvent, fn func(t *route.Table)) {
	v.mu.Lock()
	fn(v.t)
	v.mu.Unlock()
	what.Time = time.Now()
	v.hub.Publish(&what)
}

// AddRoute adds a route (after routes of its prefix with a metric not
// above its own, like the kernel's append).
func (v *View) AddRoute(r route.Route) {
	v.update(route.ViewEvent{Routes: true}, func(t *route.Table) { t.Add(r) })
}

// DeleteRoute deletes a route and reports whether it was there.
func (v *View) DeleteRoute(r route.Route) bool {
	var ok bool
	v.update(route.ViewEvent{Routes: true}, func(t *route.Table) { ok = t.Delete(r) })
	return ok
}

// SetLink adds or updates a link.
func (v *View) SetLink(l route.Link) {
	v.update(route.ViewEvent{Links: true}, func(t *route.Table) { t.SetLink(l) })
}

// AddAddress adds an address.
func (v *View) AddAddress(a route.Address) {
	v.update(route.ViewEvent{Addresses: true}, func(t *route.Table) { t.AddAddress(a) })
}

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

// Subscribe returns a channel that receives a *route.ViewEvent after
// each Update (coalesced when the subscriber falls behind). It is closed
// when ctx ends or by Close.
func (v *View) Subscribe(ctx context.Context) <-chan netpulse.Event { return v.hub.Subscribe(ctx, nil) }

// Close closes the subscriptions. It is idempotent.
func (v *View) Close() error {
	v.hub.Close()
	return nil
}

// Steerer stands in for a route.Steerer: it takes evidence as one does
// (a netpulse.Observer; the health it keeps is ev.Health(), evidence with
// Index 0 applies to nothing), records what it was fed, and delivers to
// its subscribers the events a test injects with Emit, through the same
// delivery as route.Steerer's (a subscription starts with the state of
// every prefix, events are keyed by prefix, a DropEvent when a subscriber
// fell behind). It is safe for concurrent use.
type Steerer struct {
	mu       sync.Mutex
	observed []netpulse.Evidence
	health   Health
	hub      *fanout.Hub[netip.Prefix, netpulse.Event]
	closed   bool
	// state is the latest SteerEvent of each prefix (order: by first
	// Emit) and since when it uses its interface; cond the latest
	// condition.
	state map[netip.Prefix]steerState
	order []netip.Prefix
	cond  netpulse.Condition
}

type steerState struct {
	ev    *route.SteerEvent
	since time.Time
}

var (
	_ netpulse.Observer  = (*Steerer)(nil)
	_ route.HealthSource = (*Steerer)(nil)
	_ route.HealthSource = (*Health)(nil)
)

// NewSteerer returns a Steerer whose subscriptions' channels hold buffer
// events (beyond it, events wait in a queue of route.MaxQueuedEvents).
func NewSteerer(buffer int) *Steerer {
	return &Steerer{state: map[netip.Prefix]steerState{}, cond: netpulse.Condition{OK: true}, hub: fanout.New(buffer, func(e netpulse.Event) netip.Prefix {
		if se, ok := e.(*route.SteerEvent); ok {
			return se.Dst
		}
		return netip.Prefix{}
	}, nil,
		fanout.WithLimit[netpulse.Event](route.MaxQueuedEvents),
		fanout.DropEvents())}
}

// Observe records ev and sets the health of ev.Interface.Index to
// ev.Health(), as route.Steerer.Observe does.
func (s *Steerer) Observe(ev netpulse.Evidence) {
	s.mu.Lock()
	s.observed = append(s.observed, ev)
	s.mu.Unlock()
	if ev.Interface.Index != 0 {
		s.health.Set(ev.Interface.Index, ev.Health())
	}
}

// SetHealth sets the health of the interface index (not recorded).
func (s *Steerer) SetHealth(index int, h netpulse.Health) { s.health.Set(index, h) }

// Health returns the health last set for the interface.
func (s *Steerer) Health(index int) netpulse.Health { return s.health.Health(index) }

// Observed returns the evidence fed to Observe, in order.
func (s *Steerer) Observed() []netpulse.Evidence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.observed)
}

// Subscribe returns a channel that first delivers, like
// route.Steerer.Subscribe, the state of every prefix a SteerEvent injected
// so far named (a *route.SteerEvent each, Initial set, Previous equal to
// Interface, Reason kept only when it says why the prefix is steered) and
// a *netpulse.ConditionEvent if an injected one left the Steerer failing;
// then the events injected with Emit. It is closed when ctx ends or by
// Close.
func (s *Steerer) Subscribe(ctx context.Context) <-chan netpulse.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var initial []netpulse.Event
	for _, p := range s.order {
		st := s.state[p]
		ev := &route.SteerEvent{Time: st.since, Initial: true, Dst: p, Interface: st.ev.Interface, Previous: st.ev.Interface}
		switch st.ev.Reason {
		case netpulse.ReasonLinkDown, netpulse.ReasonIPDown, netpulse.ReasonDisabled:
			ev.Reason = st.ev.Reason
		}
		initial = append(initial, ev)
	}
	if !s.cond.OK {
		initial = append(initial, &netpulse.ConditionEvent{Time: s.cond.Since, Condition: s.cond,
			Previous: netpulse.Condition{OK: true}, Reason: netpulse.ReasonFailing})
	}
	return s.hub.Subscribe(ctx, initial)
}

// Emit delivers an event (a *route.SteerEvent, a *netpulse.ConditionEvent)
// to the subscribers, and keeps it as the state later subscriptions start
// with; it reports false if the Steerer is closed.
func (s *Steerer) Emit(ev netpulse.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	switch e := ev.(type) {
	case *route.SteerEvent:
		old, ok := s.state[e.Dst]
		since := old.since
		if !ok || old.ev.Interface != e.Interface {
			since = e.Time
		}
		if !ok {
			s.order = append(s.order, e.Dst)
		}
		s.state[e.Dst] = steerState{e, since}
	case *netpulse.ConditionEvent:
		s.cond = e.Condition
	}
	s.hub.Publish(ev)
	return true
}

// Close closes the subscriptions. It is idempotent.
func (s *Steerer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.hub.Close()
	return nil
}
