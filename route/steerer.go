package route

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// A Steerer makes the kernel agree with Select for guarded prefixes: when
// the interface the kernel uses for a guarded prefix is unhealthy (by the
// evidence the caller feeds in, or by the kernel's linkdown flag) and a
// healthy route to the same prefix exists, it installs the two halves of
// the prefix through the healthy route, marked with its protocol. Being
// more specific they win over the prefix whatever the metrics, so the
// guarded routes themselves are never modified: removing the halves
// restores the table exactly, a route deleted by an operator meanwhile
// needs no repair, and after a crash the marked routes are all that is
// left (a new Steerer removes them when it starts).
//
// A Steerer is a netpulse.Observer: health is fed with Observe (or
// SetHealth); every change is applied to the kernel before the call
// returns, and reported to subscribers. Kernel changes (routes, links,
// netconf) are reconciled by the Steerer's goroutine as they are notified.
type Steerer struct {
	cfg  SteererConfig
	log  *slog.Logger
	view *View
	hub  *fanout.Hub[netip.Prefix, netpulse.Event]

	hmu    sync.RWMutex
	health map[int]netpulse.Health

	// evMu orders publishing against Subscribe, so that a subscription's
	// initial state (lastGuard: every guarded prefix's latest state and
	// since when) and the events after it agree. Lock order: smu, evMu,
	// then the hub's.
	evMu      sync.Mutex
	lastGuard map[netip.Prefix]guardSince

	smu     sync.Mutex
	current map[netip.Prefix]netpulse.Interface
	guards  []GuardState
	stats   SteererSnapshot
	cond    netpulse.Condition

	// steerKernel is the part that changes the kernel (steer_linux.go).
	steerKernel
}

var (
	_ netpulse.Observer = (*Steerer)(nil)
	_ HealthSource      = (*Steerer)(nil)
)

// OpenSteerer starts a Steerer: it opens its own View of the namespace,
// removes routes left by an earlier Steerer of the same protocol, sets the
// linkdown sysctl on guarded interfaces (unless configured not to) and
// reconciles once. Interfaces that do not exist yet are guarded once they
// appear (the sysctl is then not set for them). An invalid cfg is refused
// with an error wrapping os.ErrInvalid (see SteererConfig.Validate).
//
// It first checks that it may change routes (a trial change of a route
// that carries no traffic): without CAP_NET_ADMIN in the namespace it
// returns an error wrapping os.ErrPermission that names the capability,
// even when the sysctls are already set and nothing else would fail
// before the first steering. ctx bounds the setup (the first dumps, the
// privilege checks); cancelling it later has no effect: Close ends the
// Steerer. The Steerer keeps its own duplicate of cfg.NetNS: the caller
// may close its descriptor once OpenSteerer returns. Off Linux it returns
// an error wrapping errors.ErrUnsupported.
func OpenSteerer(ctx context.Context, cfg *SteererConfig) (*Steerer, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Steerer{cfg: c, log: c.Logger, health: map[int]netpulse.Health{}, lastGuard: map[netip.Prefix]guardSince{},
		current: map[netip.Prefix]netpulse.Interface{}, cond: netpulse.Condition{OK: true}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.hub = fanout.New(c.Buffer, func(e netpulse.Event) netip.Prefix {
		if se, ok := e.(*SteerEvent); ok {
			return se.Dst
		}
		return netip.Prefix{} // the Steerer's condition
	}, nil, fanout.WithLimit[netpulse.Event](MaxQueuedEvents), fanout.DropEvents())
	if err := s.open(ctx); err != nil {
		s.hub.Close()
		return nil, err
	}
	return s, nil
}

// View returns the Steerer's view of the namespace (closed by Close).
func (s *Steerer) View() *View { return s.view }

// Subscribe returns a channel that first delivers the state of every
// guarded prefix (a *SteerEvent each, Initial set, in the order of
// SteererConfig.Prefixes), then the Steerer's events: a *SteerEvent for
// each steering change of a guarded prefix, a *netpulse.ConditionEvent
// when the Steerer starts failing (ReasonFailing: a kernel change failed,
// errors.Is(Err, os.ErrPermission) without CAP_NET_ADMIN, or its View
// cannot follow the kernel; it keeps retrying on each change) and when it
// works again (ReasonWorking), and a *netpulse.DropEvent before the next
// event when the subscriber fell so far behind that events were dropped
// (SteererConfig.Buffer, MaxQueuedEvents; the oldest event of a
// prefix that has a later one goes first). Steering events are not folded:
// each is a change of its own. A subscription made while the Steerer is
// failing has a ConditionEvent after the initial state. The channel is
// closed when ctx ends or by Close, after the ReasonRestored events that
// fit its buffer.
func (s *Steerer) Subscribe(ctx context.Context) <-chan netpulse.Event {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.evMu.Lock()
	defer s.evMu.Unlock()
	var initial []netpulse.Event
	for _, p := range s.cfg.Prefixes {
		if g, ok := s.lastGuard[p]; ok {
			initial = append(initial, &SteerEvent{Time: g.since, Initial: true, Dst: p,
				Interface: g.Interface, Previous: g.Interface, Reason: g.Reason})
		}
	}
	return s.hub.Subscribe(ctx, failingNow(s.cond, initial))
}

// Observe sets the health of ev.Interface (by its Index; an Evidence with
// Index 0 applies to nothing) to ev.Health() and reconciles: the kernel
// is steered accordingly when it returns. Link down makes the interface
// link-down; an IP path that is dead (VerdictDead) ip-down; unknown and
// unverified evidence leave it healthy. Observe implements
// netpulse.Observer.
func (s *Steerer) Observe(ev netpulse.Evidence) {
	if ev.Interface.Index == 0 {
		return
	}
	s.SetHealth(ev.Interface.Index, ev.Health())
}

// SetHealth sets the health of the interface with the given index and
// reconciles, as Observe does; it also takes netpulse.HealthDisabled,
// which evidence cannot express.
func (s *Steerer) SetHealth(index int, h netpulse.Health) {
	s.hmu.Lock()
	if h == netpulse.HealthUnknown {
		delete(s.health, index) // unknown is the default: keep no entry
	} else {
		s.health[index] = h
	}
	s.hmu.Unlock()
	s.apply()
}

// Health returns the health last set for the interface index
// (netpulse.HealthUnknown if none). With it a Steerer is a HealthSource.
func (s *Steerer) Health(index int) netpulse.Health {
	s.hmu.RLock()
	h := s.health[index]
	s.hmu.RUnlock()
	return h
}

// Reconcile reconciles now (Observe, SetHealth and kernel changes do it
// already).
func (s *Steerer) Reconcile() { s.apply() }

// Snapshot returns the guarded prefixes' state and the counters.
func (s *Steerer) Snapshot() SteererSnapshot {
	s.smu.Lock()
	out := s.stats
	out.Time = time.Now()
	out.Guards = slices.Clone(s.guards)
	out.Condition = s.cond
	s.smu.Unlock()
	out.EventsDropped = s.hub.Dropped()
	return out
}

// Close removes every route the Steerer installed, puts the sysctls back,
// stops its goroutine and its view, closes the subscriptions and returns
// once they have stopped. It is idempotent.
func (s *Steerer) Close() error {
	err := s.closeKernel()
	s.hub.Close()
	return err
}

// emit delivers an event to the subscribers.
func (s *Steerer) emit(ev netpulse.Event) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.hub.Publish(ev)
}

// guardSince is a guarded prefix's state and since when it uses its
// interface.
type guardSince struct {
	GuardState
	since time.Time
}

// record keeps g as its prefix's latest state and publishes ev (nil:
// nothing), both under evMu, so that Subscribe's initial state never
// misses an event nor replays one.
func (s *Steerer) record(g GuardState, ev *SteerEvent) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	old, ok := s.lastGuard[g.Dst]
	since := old.since
	if !ok || old.Interface != g.Interface {
		since = time.Now()
		if ev != nil {
			since = ev.Time
		}
	}
	s.lastGuard[g.Dst] = guardSince{g, since}
	if ev != nil {
		s.hub.Publish(ev)
	}
}

// guardOf is the state of pl's prefix once pl is applied.
func guardOf(pl *steerPlan) GuardState {
	g := GuardState{Dst: pl.dst, Interface: pl.effective, Steered: len(pl.want) > 0, Reason: pl.reason}
	if pl.natural != nil {
		g.Natural = pl.natural.Interface()
	}
	return g
}

// setFailing records the Steerer's condition after a reconciliation (err:
// the first failure, nil when every change was made and the view follows
// the kernel) and reports each change of it to subscribers.
func (s *Steerer) setFailing(err error) {
	s.smu.Lock()
	defer s.smu.Unlock()
	if err != nil {
		s.stats.LastError = err
	}
	if s.cond.OK == (err == nil) {
		return
	}
	ev := conditionChange(s.cond, err)
	s.cond = ev.Condition
	s.emit(ev)
}
