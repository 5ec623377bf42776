package route

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// View is a live view of a namespace's routing state: routes of the
// configured tables with their nexthops and flags, links and addresses.
// It subscribes to route, address, link and netconf notifications before
// dumping and applies route notifications as they come. The kernel
// changes nexthop flags and flushes routes of a downed link without a
// route notification, so a change of a link's admin state, carrier or
// name, a removed address or an ignore_routes_with_linkdown change makes
// the view read again the routes through that interface (a dump filtered
// by output interface; a carrier change alone it applies itself), at
// most once per coalescing window (ViewConfig.Coalesce) however many
// notifications arrived in it; other link notifications (statistics,
// MTU...) cost nothing. An overrun (ENOBUFS) makes it dump everything
// again, at most at a rate that keeps full dumps under a fifth of a core.
// Its methods are safe for concurrent use.
type View struct {
	cfg ViewConfig
	log *slog.Logger

	mu     sync.RWMutex
	tables map[uint32]*Table
	first  *Table

	hub *fanout.Hub[viewKey, netpulse.Event]

	// condMu serialises changes of the view's own condition.
	condMu  sync.Mutex
	cond    netpulse.Condition // under condMu
	failing atomic.Bool
	lastErr atomic.Pointer[error]

	overruns, dumps, dumpRetries, decodeErrors, receiveErrors, updates atomic.Uint64
	refreshes, hintsIgnored, fullDumpsDelayed                          atomic.Uint64

	// viewKernel is the part that talks to the kernel (view_linux.go).
	viewKernel
}

// A ViewEvent tells a subscriber of a View that the view changed: routes,
// links or addresses. Changes that come close together are coalesced into
// one event; read the view (Lookup, Select, Read...) for the new state.
type ViewEvent struct {
	// Time is when the latest change folded into the event was applied.
	Time time.Time
	// Routes, Links and Addresses tell what changed (at least one is
	// true): routes of the view's tables (their nexthop flags included),
	// links (admin state, carrier, name; appeared or deleted), addresses.
	Routes, Links, Addresses bool
}

// EventTime returns e.Time.
func (e *ViewEvent) EventTime() time.Time { return e.Time }

// viewKey is what a View's events are about, for coalescing: every
// ViewEvent is about the view, every ConditionEvent about its condition.
type viewKey uint8

const (
	viewKeyChange viewKey = iota
	viewKeyCondition
)

// OpenView opens a view of the namespace's routing state, dumps it and
// keeps it current until Close. cfg may be nil (defaults); an invalid cfg
// is refused with an error wrapping os.ErrInvalid (see
// ViewConfig.Validate). ctx bounds the setup (the first dumps, the
// privilege checks); cancelling it later has no effect: Close ends the
// view. The view keeps its own duplicate of cfg.NetNS: the caller may close
// its descriptor once OpenView returns. Off Linux it returns an error
// wrapping errors.ErrUnsupported.
func OpenView(ctx context.Context, cfg *ViewConfig) (*View, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &View{cfg: c, log: c.Logger, tables: map[uint32]*Table{}, cond: netpulse.Condition{OK: true}}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.hub = fanout.New(1, func(e netpulse.Event) viewKey {
		if _, ok := e.(*ViewEvent); ok {
			return viewKeyChange
		}
		return viewKeyCondition
	}, mergeViewEvents, fanout.DropEvents())
	if err := v.open(ctx); err != nil {
		v.hub.Close()
		return nil, err
	}
	return v, nil
}

// mergeViewEvents folds a waiting ViewEvent into a newer one (the view's
// state is read, not carried; what changed adds up); condition changes
// are not folded.
func mergeViewEvents(old, new netpulse.Event) (netpulse.Event, bool) {
	o, ok := old.(*ViewEvent)
	n, nok := new.(*ViewEvent)
	if !ok || !nok {
		return old, false
	}
	m := *n
	m.Routes, m.Links, m.Addresses = o.Routes || n.Routes, o.Links || n.Links, o.Addresses || n.Addresses
	return &m, true
}

// Close stops the view: it closes its sockets and its duplicate of the
// namespace descriptor, closes every subscription channel and returns once
// its goroutine has stopped. It is idempotent and returns nil.
func (v *View) Close() error {
	v.closeKernel()
	v.hub.Close()
	return nil
}

// Subscribe returns a channel that receives a *ViewEvent after each change
// of the view (coalesced: a subscriber that falls behind receives one
// event for the changes it missed), a *netpulse.ConditionEvent when the
// view stops following the kernel (its notification socket or a dump
// fails; ReasonFailing) and when it follows it again (ReasonWorking), and
// a *netpulse.DropEvent if events were lost (none are in practice: the
// view has two kinds of event and folds each). A subscription made while
// the view is failing starts with a ConditionEvent. The channel is closed
// when ctx ends or the view is closed.
func (v *View) Subscribe(ctx context.Context) <-chan netpulse.Event {
	v.condMu.Lock()
	defer v.condMu.Unlock()
	return v.hub.Subscribe(ctx, failingNow(v.cond, nil))
}

// notify tells subscribers what changed in the view.
func (v *View) notify(ch ViewEvent) {
	v.updates.Add(1)
	ch.Time = time.Now()
	v.hub.Publish(&ch)
}

// setFailing records the view's condition (err: why it fails, nil when it
// works again) and tells subscribers when it changes.
func (v *View) setFailing(err error) {
	failing := err != nil
	if failing {
		v.lastErr.Store(&err)
	}
	if v.failing.Swap(failing) == failing {
		return
	}
	v.condMu.Lock()
	defer v.condMu.Unlock()
	ev := conditionChange(v.cond, err)
	v.cond = ev.Condition
	v.hub.Publish(ev)
}

// conditionChange returns the event of a component's condition changing
// from prev to failing with err, or to working when err is nil.
func conditionChange(prev netpulse.Condition, err error) *netpulse.ConditionEvent {
	now := time.Now()
	ev := &netpulse.ConditionEvent{Time: now, Previous: prev, Reason: netpulse.ReasonWorking,
		Condition: netpulse.Condition{OK: err == nil, Since: now}}
	if err != nil {
		ev.Reason, ev.Condition.Err = netpulse.ReasonFailing, err
	}
	return ev
}

// failingNow appends to initial the event a new subscription starts with
// when the component's condition cond is not OK.
func failingNow(cond netpulse.Condition, initial []netpulse.Event) []netpulse.Event {
	if cond.OK {
		return initial
	}
	return append(initial, &netpulse.ConditionEvent{Time: cond.Since, Condition: cond,
		Previous: netpulse.Condition{OK: true}, Reason: netpulse.ReasonFailing})
}

// Lookup returns the route the kernel would use for dst in the view's
// first table (see Table.Lookup). It does not allocate. Routes of the
// local table (the namespace's own addresses) are not in the view unless
// configured.
func (v *View) Lookup(dst netip.Addr) (Route, bool) {
	v.mu.RLock()
	r, ok := v.first.Lookup(dst)
	v.mu.RUnlock()
	return r, ok
}

// Select returns the best route to dst in the view's first table whose
// output interface is healthy by h (see Table.Select). It does not
// allocate on success when h does not.
func (v *View) Select(dst netip.Addr, h HealthSource) (Selection, error) {
	v.mu.RLock()
	s, err := v.first.Select(dst, h)
	v.mu.RUnlock()
	return s, err
}

// Read calls fn with the table with the given id (0: the first configured
// table) under the view's read lock; fn must not keep t nor modify it.
// It reports false if the table is not in the view.
func (v *View) Read(table uint32, fn func(t *Table)) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	t := v.first
	if table != 0 {
		t = v.tables[table]
	}
	if t == nil {
		return false
	}
	fn(t)
	return true
}

// Routes returns every route of the first table.
func (v *View) Routes() []Route {
	var out []Route
	v.Read(0, func(t *Table) { out = t.Routes() })
	return out
}

// Links returns every link.
func (v *View) Links() []Link {
	var out []Link
	v.Read(0, func(t *Table) { out = t.Links() })
	return out
}

// Addresses returns the addresses of the interface with the given index,
// or of every interface when index is 0.
func (v *View) Addresses(index int) []Address {
	var out []Address
	v.Read(0, func(t *Table) { out = t.Addresses(index) })
	return out
}

// Snapshot returns the view's counters.
func (v *View) Snapshot() ViewSnapshot {
	s := ViewSnapshot{Time: time.Now(), Overruns: v.overruns.Load(), Dumps: v.dumps.Load(), DumpRetries: v.dumpRetries.Load(),
		DecodeErrors: v.decodeErrors.Load(), ReceiveErrors: v.receiveErrors.Load(), Updates: v.updates.Load(),
		Refreshes: v.refreshes.Load(), HintsIgnored: v.hintsIgnored.Load(),
		FullDumpsDelayed: v.fullDumpsDelayed.Load()}
	if e := v.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	v.condMu.Lock()
	s.Condition = v.cond
	v.condMu.Unlock()
	v.mu.RLock()
	if v.first != nil {
		s.Routes = v.first.Len()
	}
	v.mu.RUnlock()
	return s
}
