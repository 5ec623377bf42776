// Package ipmontest provides a fake ipmon poller for consumers' unit tests.
// The test decides every target's state with Set; the fake publishes the
// events (and per-interface verdicts, with the configured rule) with the
// same types and delivery guarantees as ipmon.Poller, from the same
// bookkeeping (ipmon's event hub, target order and verdict rule): current
// state first, then changes; a slow subscriber blocks nobody and always
// gets the latest state. It touches no kernel and runs in simulated time
// (testing/synctest).
package ipmontest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/ipmon/internal/core"
)

type target struct {
	t          ipmon.Target
	state      ipmon.TargetState
	rtt        time.Duration
	lastChange time.Time
	misses     int
	replies    int
}

type iface struct {
	verdict    netpulse.Verdict
	lastChange time.Time
	targets    map[core.Key]*target
}

// Poller is a fake of *ipmon.Poller. Its methods are safe for concurrent
// use. The zero value is not usable: call New.
type Poller struct {
	cfg       ipmon.Config
	normalize func(ipmon.Target) (ipmon.Target, error)
	identity  func(ipmon.Target) (ipmon.Target, error)
	rule      func(iface string) ipmon.VerdictRule

	// AddHook, if set, is called by Add before anything else; a non-nil
	// error is returned by Add (to simulate ipmon.ErrLocalAddress and the
	// like).
	AddHook func(ipmon.Target) error

	mu      sync.Mutex
	closed  bool
	targets map[core.Key]*target
	ifaces  map[string]*iface
	index   map[string]int
	hub     *core.Hub
	once    sync.Once
}

// New returns a fake poller. cfg may be nil; its default timings fill
// targets' zero fields and its verdict rules decide interface verdicts,
// exactly as ipmon.Open's Poller does. It panics if cfg is invalid
// (ipmon.Config.Validate): a test's mistake.
func New(cfg *ipmon.Config) *Poller {
	targets := core.Targets.(func(*ipmon.Config) (func(ipmon.Target) (ipmon.Target, error), func(ipmon.Target) (ipmon.Target, error), func(string) ipmon.VerdictRule, error))
	normalize, identity, rule, err := targets(cfg)
	if err != nil {
		panic(err)
	}
	p := &Poller{normalize: normalize, identity: identity, rule: rule,
		targets: map[core.Key]*target{}, ifaces: map[string]*iface{}, index: map[string]int{}, hub: core.NewHub()}
	if cfg != nil {
		p.cfg = *cfg
	}
	return p
}

func keyOf(t ipmon.Target) core.Key {
	return core.Key{Iface: t.Interface, Addr: t.Addr, Kind: int(t.Kind)}
}

// SetIndex sets the interface index the fake's events carry for the
// interface named name (0, the default: no such interface). Events sent
// afterwards carry it.
func (p *Poller) SetIndex(name string, index int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index[name] = index
}

// errClosed is what a closed fake returns, as a closed ipmon.Poller does.
var errClosed = fmt.Errorf("ipmontest: poller closed: %w", net.ErrClosed)

func (p *Poller) iface(name string) netpulse.Interface {
	return netpulse.Interface{Index: p.index[name], Name: name}
}

// Add adds a target in state ipmon.TargetUnknown, with its zero fields
// filled as ipmon.Poller.Add fills them. It returns AddHook's error, or an
// error wrapping ipmon.ErrExists, net.ErrClosed, or what ipmon.Poller.Add
// returns for a target it refuses without looking at the kernel
// (ipmon.ErrInvalidTarget, ipmon.ErrLocalAddress for a loopback address).
func (p *Poller) Add(t ipmon.Target) error {
	if p.AddHook != nil {
		if err := p.AddHook(t); err != nil {
			return err
		}
	}
	t, err := p.normalize(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	k := keyOf(t)
	if p.targets[k] != nil {
		return fmt.Errorf("%w: %v", ipmon.ErrExists, t)
	}
	now := time.Now()
	tg := &target{t: t, lastChange: now}
	p.targets[k] = tg
	is := p.ifaces[t.Interface]
	if is == nil {
		is = &iface{lastChange: now, targets: map[core.Key]*target{}}
		p.ifaces[t.Interface] = is
	}
	is.targets[k] = tg
	p.hub.Publish(p.event(tg, ipmon.TargetUnknown, now))
	p.reverdict(t.Interface, now)
	return nil
}

// Remove removes a target (identified by Interface, Addr, Kind) and
// publishes an event with Removed set. It returns an error wrapping
// ipmon.ErrNotFound, ipmon.ErrInvalidTarget or net.ErrClosed.
func (p *Poller) Remove(t ipmon.Target) error {
	t, err := p.identity(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	k := keyOf(t)
	tg := p.targets[k]
	if tg == nil {
		return fmt.Errorf("%w: %v", ipmon.ErrNotFound, t)
	}
	delete(p.targets, k)
	now := time.Now()
	prev := tg.state
	tg.state = ipmon.TargetUnknown
	ev := p.event(tg, prev, now)
	ev.Removed = true
	p.hub.Publish(ev)
	is := p.ifaces[t.Interface]
	delete(is.targets, k)
	p.reverdict(t.Interface, now)
	if len(is.targets) == 0 {
		delete(p.ifaces, t.Interface)
	}
	return nil
}

// Update replaces a target's timings and source, filled and checked as
// ipmon.Poller.Update does. It returns an error wrapping
// ipmon.ErrNotFound, ipmon.ErrInvalidTarget or net.ErrClosed.
func (p *Poller) Update(t ipmon.Target) error {
	t, err := p.normalize(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	tg := p.targets[keyOf(t)]
	if tg == nil {
		return fmt.Errorf("%w: %v", ipmon.ErrNotFound, t)
	}
	tg.t = t
	return nil
}

// Set gives the target identified by t (Interface, Addr, Kind) a new state
// and last RTT, and publishes the change (and the interface's new verdict,
// if it changed). Setting the current state again only updates the RTT.
// It returns an error wrapping ipmon.ErrNotFound, ipmon.ErrInvalidTarget
// or net.ErrClosed.
func (p *Poller) Set(t ipmon.Target, s ipmon.TargetState, rtt time.Duration) error {
	t, err := p.identity(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	tg := p.targets[keyOf(t)]
	if tg == nil {
		return fmt.Errorf("%w: %v", ipmon.ErrNotFound, t)
	}
	tg.rtt = rtt
	if tg.state == s {
		return nil
	}
	now := time.Now()
	prev := tg.state
	tg.state, tg.lastChange = s, now
	switch s {
	case ipmon.TargetUp:
		tg.misses, tg.replies = 0, tg.t.RecoverAfter
	case ipmon.TargetDown, ipmon.TargetUnverified:
		tg.misses, tg.replies = tg.t.FailAfter, 0
	}
	p.hub.Publish(p.event(tg, prev, now))
	p.reverdict(tg.t.Interface, now)
	return nil
}

// Targets returns the targets added, sorted by interface, address and
// kind.
func (p *Poller) Targets() []ipmon.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []ipmon.Target
	for _, tg := range sorted(p.targets) {
		ts = append(ts, tg.t)
	}
	return ts
}

// sorted returns ts in the Poller's order.
func sorted(ts map[core.Key]*target) []*target {
	keys := slices.SortedFunc(maps.Keys(ts), core.Key.Compare)
	out := make([]*target, len(keys))
	for i, k := range keys {
		out[i] = ts[k]
	}
	return out
}

func (p *Poller) event(tg *target, prev ipmon.TargetState, now time.Time) *ipmon.TargetEvent {
	return &ipmon.TargetEvent{
		Time: now, Interface: p.iface(tg.t.Interface), Target: tg.t,
		State: tg.state, Previous: prev, RTT: tg.rtt, Misses: tg.misses, Replies: tg.replies,
	}
}

// counts returns the interface's targets by state.
func (is *iface) counts() (n [4]int) {
	for _, tg := range is.targets {
		n[tg.state]++
	}
	return n
}

func (p *Poller) verdictEvent(name string, prev netpulse.Verdict, now time.Time) *ipmon.VerdictEvent {
	is := p.ifaces[name]
	ev := &ipmon.VerdictEvent{
		Time: now, Interface: p.iface(name), Verdict: is.verdict, Previous: prev, Rule: p.rule(name),
		Evidence: make([]ipmon.TargetEvidence, 0, len(is.targets)),
	}
	for _, tg := range is.targets {
		ev.Evidence = append(ev.Evidence, ipmon.TargetEvidence{Addr: tg.t.Addr, Kind: tg.t.Kind, State: tg.state})
	}
	slices.SortFunc(ev.Evidence, ipmon.CompareTargetEvidence)
	return ev
}

func (p *Poller) reverdict(name string, now time.Time) {
	is := p.ifaces[name]
	n := is.counts()
	v := p.rule(name).Decide(n[ipmon.TargetUp], n[ipmon.TargetDown], n[ipmon.TargetUnverified], n[ipmon.TargetUnknown])
	if v == is.verdict {
		return
	}
	prev := is.verdict
	is.verdict, is.lastChange = v, now
	p.hub.Publish(p.verdictEvent(name, prev, now))
}

// Subscribe returns the current state of every target (*ipmon.TargetEvent)
// and interface (*ipmon.VerdictEvent), Initial set, then every change, like
// ipmon.Poller.Subscribe (the fake's condition is always OK: it sends no
// *netpulse.ConditionEvent; *netpulse.DropEvent as the Poller does).
func (p *Poller) Subscribe(ctx context.Context) <-chan netpulse.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var initial []netpulse.Event
	if !p.closed {
		for _, tg := range sorted(p.targets) {
			ev := p.event(tg, tg.state, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
		for _, name := range slices.Sorted(maps.Keys(p.ifaces)) {
			ev := p.verdictEvent(name, p.ifaces[name].verdict, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
	}
	return p.hub.Subscribe(ctx, initial)
}

// Snapshot returns the targets' states and last RTTs and the interfaces'
// verdicts. The probe counters are zero (the fake sends nothing);
// EventsDropped counts what the subscriptions' caps dropped, as the
// Poller's does.
func (p *Poller) Snapshot() ipmon.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ipmon.Snapshot{Time: time.Now(), EventsDropped: p.hub.Dropped(), Mode: ipmon.ModeRaw, StrictIngress: p.cfg.StrictIngress, Condition: netpulse.Condition{OK: true}}
	for _, tg := range sorted(p.targets) {
		s.Targets = append(s.Targets, ipmon.TargetStats{
			Target: tg.t, State: tg.state, LastChange: tg.lastChange, LastRTT: tg.rtt,
			ConsecutiveMisses: tg.misses, ConsecutiveReplies: tg.replies,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(p.ifaces)) {
		is := p.ifaces[name]
		n := is.counts()
		s.Interfaces = append(s.Interfaces, ipmon.VerdictStatus{
			Interface: p.iface(name), Verdict: is.verdict, Rule: p.rule(name), LastChange: is.lastChange,
			Targets: len(is.targets), Up: n[ipmon.TargetUp], Down: n[ipmon.TargetDown],
			Unverified: n[ipmon.TargetUnverified], Unknown: n[ipmon.TargetUnknown],
		})
	}
	return s
}

// Close closes every subscription channel and waits for the fake's
// goroutines. It is idempotent.
func (p *Poller) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.hub.Close()
	})
	return nil
}
