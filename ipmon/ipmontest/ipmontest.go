// Package ipmontest provides a fake ipmon poller for consumers' unit tests.
// The test decides every target's state with Set; the fake publishes the
// events (and per-interface verdicts, with the configured rule) with the
// same delivery guarantees as ipmon.Poller: current state first, then
// changes; a slow subscriber blocks nobody and always gets the latest state.
// It touches no kernel and runs in simulated time (testing/synctest).
package ipmontest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse/internal/fanout"
	"github.com/netpulse/netpulse/ipmon"
)

type key struct {
	iface string
	addr  netip.Addr
	kind  ipmon.ProbeKind
}

func keyOf(t ipmon.Target) key { return key{t.Interface, t.Addr, t.Kind} }

type evKey struct {
	kind  ipmon.EventKind
	iface string
	k     key
}

type target struct {
	t          ipmon.Target
	state      ipmon.TargetState
	rtt        time.Duration
	lastChange time.Time
	misses     int
	replies    int
}

type iface struct {
	verdict    ipmon.Verdict
	lastChange time.Time
}

// Poller is a fake of *ipmon.Poller. Its methods are safe for concurrent
// use. The zero value is not usable: call New.
type Poller struct {
	cfg ipmon.Config

	// AddHook, if set, is called by Add before anything else; a non-nil
	// error is returned by Add (to simulate ErrLocalAddress and the like).
	AddHook func(ipmon.Target) error

	mu      sync.Mutex
	closed  bool
	targets map[key]*target
	ifaces  map[string]*iface
	hub     *fanout.Hub[evKey, ipmon.Event]
	once    sync.Once
}

// New returns a fake poller. cfg may be nil; its default timings fill
// targets' zero fields and its verdict rules decide interface verdicts.
func New(cfg *ipmon.Config) *Poller {
	p := &Poller{targets: map[key]*target{}, ifaces: map[string]*iface{}}
	if cfg != nil {
		p.cfg = *cfg
	}
	if p.cfg.Interval == 0 {
		p.cfg.Interval = ipmon.DefaultInterval
	}
	if p.cfg.Timeout == 0 {
		p.cfg.Timeout = p.cfg.Interval
	}
	if p.cfg.FailAfter == 0 {
		p.cfg.FailAfter = ipmon.DefaultFailAfter
	}
	if p.cfg.RecoverAfter == 0 {
		p.cfg.RecoverAfter = ipmon.DefaultRecoverAfter
	}
	p.hub = fanout.New(0, func(e ipmon.Event) evKey {
		if e.Kind == ipmon.VerdictChanged {
			return evKey{kind: e.Kind, iface: e.Interface}
		}
		return evKey{kind: e.Kind, k: keyOf(e.Target)}
	}, ipmon.Event.Coalesce)
	return p
}

func (p *Poller) fill(t ipmon.Target) ipmon.Target {
	if t.Interval == 0 {
		t.Interval = p.cfg.Interval
	}
	if t.Timeout == 0 {
		t.Timeout = p.cfg.Timeout
	}
	if t.FailAfter == 0 {
		t.FailAfter = p.cfg.FailAfter
	}
	if t.RecoverAfter == 0 {
		t.RecoverAfter = p.cfg.RecoverAfter
	}
	return t
}

func (p *Poller) rule(name string) ipmon.VerdictRule {
	if r, ok := p.cfg.InterfaceVerdict[name]; ok {
		return r
	}
	return p.cfg.Verdict
}

// Add adds a target in state Unknown. It returns AddHook's error, or an
// error wrapping ipmon.ErrExists, ipmon.ErrInvalidTarget (no address or
// interface) or ipmon.ErrClosed.
func (p *Poller) Add(t ipmon.Target) error {
	if p.AddHook != nil {
		if err := p.AddHook(t); err != nil {
			return err
		}
	}
	if !t.Addr.IsValid() || t.Interface == "" {
		return fmt.Errorf("%w: %v", ipmon.ErrInvalidTarget, t)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ipmon.ErrClosed
	}
	k := keyOf(t)
	if p.targets[k] != nil {
		return fmt.Errorf("%w: %v", ipmon.ErrExists, t)
	}
	now := time.Now()
	tg := &target{t: p.fill(t), lastChange: now}
	p.targets[k] = tg
	if p.ifaces[t.Interface] == nil {
		p.ifaces[t.Interface] = &iface{lastChange: now}
	}
	p.hub.Publish(p.event(tg, ipmon.Unknown, now))
	p.reverdict(t.Interface, now)
	return nil
}

// Remove removes a target (identified by Interface, Addr, Kind) and
// publishes an event with Removed set. It returns an error wrapping
// ipmon.ErrNotFound or ipmon.ErrClosed.
func (p *Poller) Remove(t ipmon.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ipmon.ErrClosed
	}
	tg := p.targets[keyOf(t)]
	if tg == nil {
		return fmt.Errorf("%w: %v", ipmon.ErrNotFound, t)
	}
	delete(p.targets, keyOf(t))
	now := time.Now()
	prev := tg.state
	tg.state = ipmon.Unknown
	ev := p.event(tg, prev, now)
	ev.Removed = true
	p.hub.Publish(ev)
	p.reverdict(t.Interface, now)
	if p.count(t.Interface) == 0 {
		delete(p.ifaces, t.Interface)
	}
	return nil
}

// Update replaces a target's timings and source. It returns an error
// wrapping ipmon.ErrNotFound or ipmon.ErrClosed.
func (p *Poller) Update(t ipmon.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ipmon.ErrClosed
	}
	tg := p.targets[keyOf(t)]
	if tg == nil {
		return fmt.Errorf("%w: %v", ipmon.ErrNotFound, t)
	}
	tg.t = p.fill(t)
	return nil
}

// Set gives the target identified by t (Interface, Addr, Kind) a new state
// and last RTT, and publishes the change (and the interface's new verdict,
// if it changed). Setting the current state again only updates the RTT.
// It returns an error wrapping ipmon.ErrNotFound or ipmon.ErrClosed.
func (p *Poller) Set(t ipmon.Target, s ipmon.TargetState, rtt time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ipmon.ErrClosed
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
	case ipmon.Up:
		tg.misses, tg.replies = 0, tg.t.RecoverAfter
	case ipmon.Down, ipmon.Unverified:
		tg.misses, tg.replies = tg.t.FailAfter, 0
	}
	p.hub.Publish(p.event(tg, prev, now))
	p.reverdict(tg.t.Interface, now)
	return nil
}

// Targets returns the targets added, sorted by interface and address.
func (p *Poller) Targets() []ipmon.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []ipmon.Target
	for _, tg := range p.sorted() {
		ts = append(ts, tg.t)
	}
	return ts
}

func (p *Poller) sorted() []*target {
	var ts []*target
	for _, tg := range p.targets {
		ts = append(ts, tg)
	}
	slices.SortFunc(ts, func(a, b *target) int {
		if c := strings.Compare(a.t.Interface, b.t.Interface); c != 0 {
			return c
		}
		if c := a.t.Addr.Compare(b.t.Addr); c != 0 {
			return c
		}
		return int(a.t.Kind) - int(b.t.Kind)
	})
	return ts
}

func (p *Poller) count(name string) int {
	n := 0
	for k := range p.targets {
		if k.iface == name {
			n++
		}
	}
	return n
}

func (p *Poller) event(tg *target, prev ipmon.TargetState, now time.Time) ipmon.Event {
	return ipmon.Event{
		Kind: ipmon.TargetChanged, At: now, Interface: tg.t.Interface, Target: tg.t,
		State: tg.state, Previous: prev, RTT: tg.rtt, Misses: tg.misses, Replies: tg.replies,
	}
}

func (p *Poller) counts(name string) (up, down, unverified, unknown int, ev []ipmon.Evidence) {
	for _, tg := range p.sorted() {
		if tg.t.Interface != name {
			continue
		}
		ev = append(ev, ipmon.Evidence{Addr: tg.t.Addr, Kind: tg.t.Kind, State: tg.state})
		switch tg.state {
		case ipmon.Up:
			up++
		case ipmon.Down:
			down++
		case ipmon.Unverified:
			unverified++
		default:
			unknown++
		}
	}
	return
}

func (p *Poller) verdictEvent(name string, prev ipmon.Verdict, now time.Time) ipmon.Event {
	_, _, _, _, evidence := p.counts(name)
	return ipmon.Event{
		Kind: ipmon.VerdictChanged, At: now, Interface: name, Verdict: p.ifaces[name].verdict,
		PreviousVerdict: prev, Rule: p.rule(name), Evidence: evidence,
	}
}

func (p *Poller) reverdict(name string, now time.Time) {
	is := p.ifaces[name]
	up, _, _, unknown, _ := p.counts(name)
	v := p.rule(name).Decide(up, unknown, p.count(name))
	if v == is.verdict {
		return
	}
	prev := is.verdict
	is.verdict, is.lastChange = v, now
	p.hub.Publish(p.verdictEvent(name, prev, now))
}

// Subscribe returns the current state of every target and interface
// (Initial set), then every change, like ipmon.Poller.Subscribe.
func (p *Poller) Subscribe(ctx context.Context) <-chan ipmon.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var initial []ipmon.Event
	if !p.closed {
		for _, tg := range p.sorted() {
			ev := p.event(tg, tg.state, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
		var names []string
		for name := range p.ifaces {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			ev := p.verdictEvent(name, p.ifaces[name].verdict, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
	}
	return p.hub.Subscribe(ctx, initial)
}

// Snapshot returns the targets' states and last RTTs and the interfaces'
// verdicts. Counters are zero: the fake sends nothing.
func (p *Poller) Snapshot() ipmon.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ipmon.Snapshot{At: time.Now(), Mode: ipmon.Raw, StrictIngress: p.cfg.StrictIngress}
	for _, tg := range p.sorted() {
		s.Targets = append(s.Targets, ipmon.TargetStats{
			Target: tg.t, State: tg.state, LastChange: tg.lastChange, LastRTT: tg.rtt,
			ConsecutiveMisses: tg.misses, ConsecutiveReplies: tg.replies,
		})
	}
	var names []string
	for name := range p.ifaces {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		up, down, unv, unk, _ := p.counts(name)
		is := p.ifaces[name]
		s.Interfaces = append(s.Interfaces, ipmon.InterfaceStatus{
			Name: name, Verdict: is.verdict, Rule: p.rule(name), LastChange: is.lastChange,
			Targets: up + down + unv + unk, Up: up, Down: down, Unverified: unv, Unknown: unk,
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
