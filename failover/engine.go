package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// Errors returned by the Engine's methods; test them with errors.Is.
// ErrUnknownGroup and ErrNotMember (invalid arguments) also match
// os.ErrInvalid. A closed engine's methods return an error wrapping
// net.ErrClosed.
var (
	// ErrUnknownGroup: no group of that name.
	ErrUnknownGroup error = invalidArgument("failover: unknown group")
	// ErrNotMember: the interface is not a member of any group (or not of
	// the group named).
	ErrNotMember error = invalidArgument("failover: not a group member")
	// ErrNotHealthy: a move was asked to a member that is not up.
	ErrNotHealthy = errors.New("failover: member is not up")
)

// errClosed is what the methods of a closed engine return: net.ErrClosed,
// the one "closed" of the standard library and of every netpulse package.
var errClosed = fmt.Errorf("failover: engine closed: %w", net.ErrClosed)

// invalidArgument is an error that matches os.ErrInvalid.
type invalidArgument string

func (e invalidArgument) Error() string        { return string(e) }
func (e invalidArgument) Is(target error) bool { return target == os.ErrInvalid }

// An Engine turns link and IP evidence into the health of each interface
// and moves each group's addresses to a healthy member through its
// Actuator. All its methods are safe for concurrent use.
//
// Evidence is level-triggered: Observe records the latest state of an
// interface and never blocks; the engine's goroutine takes the latest state
// of every interface at each step.
type Engine struct {
	cfg    Config
	act    Actuator
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	wake   chan struct{}
	// followMu orders Subscribe against Close.
	followMu sync.Mutex
	// evMu orders Publish against Subscribe, so that a subscription's
	// initial state (the latest health event of every member and group
	// event of every group, kept here) and the events after it agree.
	evMu       sync.Mutex
	hub        *fanout.Hub[evKey, netpulse.Event]
	lastHealth map[string]*HealthEvent
	lastGroup  map[string]*GroupEvent
	// closed is closed by Close, closeErr is the Actuator's Close error.
	closed   chan struct{}
	closeErr error
	// verifier is the Actuator as a Verifier (nil: no repair); hints are
	// a DriftHinter's hints, taken by the engine's goroutine.
	verifier Verifier
	hintMu   sync.Mutex
	hints    []DriftHint
	// selfAnn is the Actuator as a SelfAnnouncer (nil: the survivors'
	// own addresses are not announced).
	selfAnn SelfAnnouncer

	// in holds evidence not yet taken by the engine's goroutine.
	inMu   sync.Mutex
	inLink map[string]linkEvidence
	inIP   map[string]ipEvidence
	inCnt  struct{ link, ip, unknown uint64 }

	// mu guards everything below; the engine's goroutine holds it for a
	// whole step, actuator calls included.
	mu       sync.Mutex
	groups   []*group
	byName   map[string]*member
	counters Counters
}

type member struct {
	name  string
	index int
	group *group

	link *linkEvidence
	ip   *ipEvidence

	health  netpulse.Health
	failure netpulse.Failure
	reason  netpulse.Reason
	since   time.Time // last health change (engine clock)
	upSince time.Time // when it last became up; zero when not up
	// evidence is the time of the evidence that caused the last health
	// change (zero for an operator's action).
	evidence time.Time

	opDisabled, policyDisabled bool
}

func (m *member) ifc() netpulse.Interface { return netpulse.Interface{Index: m.index, Name: m.name} }

type group struct {
	cfg     GroupConfig
	members []*member
	initial *member

	active     *member // where the addresses are; nil until placed
	lastSwitch time.Time
	lastReason netpulse.Reason
	switches   uint64
	state      GroupState

	// dirty: a move began and did not complete, so the addresses may be on
	// more than one member until a move completes.
	dirty       bool
	attempt     int
	retryAt     time.Time
	retryTarget *member
	lastErr     error
	// blocked is the target of a move that failed with a permanent error
	// (IsPermanent): it is not tried again until a member's health changes
	// or the application asks for a move. permErr is that error, kept
	// until a move succeeds.
	blocked *member
	permErr error
	// placed: the addresses were placed once by this engine, so later
	// moves only re-check locally for conflicts (no probe on the wire).
	placed bool
	// verifyAt is when the active member's addresses and return path are
	// next verified (Config.RepairInterval). returnShadowed: re-steering
	// did not complete the return path shadowAfter times in a row; it is
	// not checked again until the next move. shadowStreak counts those
	// times.
	verifyAt       time.Time
	returnShadowed bool
	shadowStreak   int

	request *request

	// The rounds of announcements of the addresses on annTo after a move.
	annTo *member
	ann   rounds

	// The surviving members' own addresses are announced after ownLost
	// failed (SelfAnnouncer).
	ownLost *member
	own     rounds

	wakeAt time.Time // failback or settle deadline
}

// rounds schedules rounds of announcements: left more, the next at next.
type rounds struct {
	left int
	next time.Time
}

// take reports whether a round is due at now and, if so, counts it: the
// next one is iv later (iv after now if the schedule fell behind).
func (r *rounds) take(now time.Time, iv time.Duration) bool {
	if r.left <= 0 || now.Before(r.next) {
		return false
	}
	r.left--
	r.next = r.next.Add(iv)
	if r.next.Before(now) {
		r.next = now.Add(iv)
	}
	return true
}

// due returns when the next round is due (zero: none left).
func (r rounds) due() time.Time {
	if r.left <= 0 {
		return time.Time{}
	}
	return r.next
}

type request struct {
	to     *member
	reason netpulse.Reason
}

// Open validates cfg (see Config.Validate) and starts an engine. With a nil
// Config.Actuator it opens a KernelActuator (see OpenActuator for the
// privileges it needs). The engine owns its Actuator: Close closes it.
//
// ctx bounds the setup (the privilege checks and the actuator's namespace);
// cancelling it later has no effect: Close ends the engine.
func Open(ctx context.Context, cfg *Config) (*Engine, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Actuator == nil {
		act, err := OpenActuator(ctx, &ActuatorConfig{NetNS: c.NetNS, Logger: c.Logger})
		if err != nil {
			return nil, err
		}
		c.Actuator = act
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cfg:    c,
		act:    c.Actuator,
		start:  time.Now(),
		ctx:    ctx,
		cancel: cancel,
		closed: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		inLink: map[string]linkEvidence{},
		inIP:   map[string]ipEvidence{},
		byName: map[string]*member{},
	}
	for _, gc := range c.Groups {
		g := &group{cfg: gc}
		for _, name := range gc.members() {
			m := &member{name: name, group: g, since: e.start}
			g.members = append(g.members, m)
			e.byName[name] = m
			if name == gc.Initial {
				g.initial = m
			}
		}
		e.groups = append(e.groups, g)
	}
	e.hub = newHub(c.EventQueue)
	e.lastHealth = map[string]*HealthEvent{}
	e.lastGroup = map[string]*GroupEvent{}
	for _, g := range e.groups {
		e.lastGroup[g.cfg.Name] = &GroupEvent{Time: e.start, Group: g.cfg.Name}
		for _, m := range g.members {
			e.lastHealth[m.name] = &HealthEvent{Time: e.start, Interface: m.ifc(), Group: g.cfg.Name}
		}
	}
	if v, ok := c.Actuator.(Verifier); ok && !c.NoRepair {
		e.verifier = v
	}
	if sa, ok := c.Actuator.(SelfAnnouncer); ok && !c.NoSurvivorAnnouncements {
		e.selfAnn = sa
	}
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.run() }()
	if h, ok := c.Actuator.(DriftHinter); ok && e.verifier != nil {
		hints := h.DriftHints(ctx)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case h, ok := <-hints:
					if !ok {
						return
					}
					e.hintMu.Lock()
					if len(e.hints) < maxHints {
						e.hints = append(e.hints, h)
					} else {
						e.hints = append(e.hints[:0], DriftHint{Lost: true})
					}
					e.hintMu.Unlock()
					e.poke()
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return e, nil
}

// Close stops the engine, waits for its goroutines, closes the channels of
// every subscription and closes the Actuator (whose error it returns).
// Addresses stay where they are. Close is idempotent.
func (e *Engine) Close() error {
	e.once.Do(func() {
		e.followMu.Lock()
		e.cancel()
		close(e.closed)
		e.followMu.Unlock()
		e.wg.Wait()
		e.hub.Close()
		e.closeErr = e.act.Close()
	})
	return e.closeErr
}

// Subscribe returns a channel that first delivers the current state: the
// health of every member (a *HealthEvent each, From equal to To) and the
// state of every group (a *GroupEvent each), Initial set, in configured
// order; then every event, in the order they happened. It sends exactly
// these types:
//
//   - *HealthEvent: a member's health changed;
//   - *GroupEvent: a group became subnet-down or recovered;
//   - *SwitchEvent: a group's addresses moved;
//   - *ActionErrorEvent: an actuator call failed;
//   - *RepairEvent: what was removed behind the engine's back was put back;
//   - *netpulse.DropEvent: this subscriber fell behind its queue's cap and
//     Count events were dropped; it comes just before the next event.
//
// The engine has no condition of its own to report (its Actuator's
// failures are ActionErrorEvents): it sends no *netpulse.ConditionEvent.
// Any number of subscriptions may be open.
//
// A subscriber that falls behind blocks nobody. The health transitions of
// one member waiting for it fold into one event (From of the oldest, the
// rest of the latest; Coalesced counts them), and so do the changes of one
// group: the latest health of every member and state of every group always
// arrive, without a DropEvent. Its queue beyond what it received is capped
// (Config.EventQueue, or twice the initial events if more): past the cap,
// the events that a later event of the same member or group follows are
// dropped first, and a *netpulse.DropEvent with their count comes just
// before the next event delivered (Counters.EventsDropped sums them over
// the subscribers).
//
// The channel is closed when ctx is done or the engine is closed (at once
// if it already is). Events are shared by every subscriber: never modify
// one.
func (e *Engine) Subscribe(ctx context.Context) <-chan netpulse.Event {
	e.followMu.Lock()
	defer e.followMu.Unlock()
	if e.ctx.Err() != nil {
		out := make(chan netpulse.Event)
		close(out)
		return out
	}
	e.evMu.Lock()
	defer e.evMu.Unlock()
	var initial []netpulse.Event
	for _, g := range e.groups {
		for _, m := range g.members {
			h := *e.lastHealth[m.name]
			h.Initial, h.From, h.Coalesced = true, h.To, 0
			initial = append(initial, &h)
		}
	}
	for _, g := range e.groups {
		ge := *e.lastGroup[g.cfg.Name]
		ge.Initial, ge.Coalesced = true, 0
		initial = append(initial, &ge)
	}
	return e.hub.Subscribe(ctx, initial)
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Disable takes an interface out of service until Enable. If it holds
// addresses they move to the best healthy member (reason "manual"). It
// returns an error wrapping ErrNotMember for an interface of no group, or
// net.ErrClosed.
func (e *Engine) Disable(iface string) error { return e.setDisabled(iface, true) }

// Enable returns an interface disabled by Disable or by
// GroupConfig.DisableOnIPFailure to service; its health follows its
// evidence again. It returns an error wrapping ErrNotMember for an
// interface of no group, or net.ErrClosed.
func (e *Engine) Enable(iface string) error { return e.setDisabled(iface, false) }

func (e *Engine) setDisabled(iface string, off bool) error {
	if e.ctx.Err() != nil {
		return errClosed
	}
	e.mu.Lock()
	m, ok := e.byName[iface]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotMember, iface)
	}
	now := time.Now()
	if off {
		m.opDisabled = true
		e.recompute(m, now, time.Time{}, netpulse.ReasonDisabled)
	} else {
		m.opDisabled, m.policyDisabled = false, false
		e.recompute(m, now, time.Time{}, netpulse.ReasonEnabled)
	}
	e.mu.Unlock()
	e.poke()
	return nil
}

// Switch moves a group's addresses to the member to (reason "manual"),
// which must be up. It returns once the move is requested; the
// SwitchEvent (or ActionErrorEvent) tells when it is done. Moving to the
// active member is a no-op. It returns an error wrapping ErrUnknownGroup,
// ErrNotMember (to is not a member of the group), ErrNotHealthy (to is not
// up) or net.ErrClosed.
func (e *Engine) Switch(groupName, to string) error {
	return e.requestMove(groupName, to, netpulse.ReasonManual)
}

// Failback moves a group's addresses back to its primary now (reason
// "failback"), whatever the failback policy and hold-down. The primary
// must be up. It returns once the move is requested, or an error wrapping
// ErrUnknownGroup, ErrNotHealthy (the primary is not up) or net.ErrClosed.
func (e *Engine) Failback(groupName string) error {
	return e.requestMove(groupName, "", netpulse.ReasonFailback)
}

func (e *Engine) requestMove(groupName, to string, reason netpulse.Reason) error {
	if e.ctx.Err() != nil {
		return errClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var g *group
	for _, x := range e.groups {
		if x.cfg.Name == groupName {
			g = x
		}
	}
	if g == nil {
		return fmt.Errorf("%w: %q", ErrUnknownGroup, groupName)
	}
	m := g.members[0]
	if to != "" {
		var ok bool
		m, ok = e.byName[to]
		if !ok || m.group != g {
			return fmt.Errorf("%w: %q is not a member of group %q", ErrNotMember, to, groupName)
		}
	}
	if m.health != netpulse.HealthUp {
		return fmt.Errorf("%w: %s is %s", ErrNotHealthy, m.name, m.health)
	}
	if g.active == m && !g.dirty {
		return nil
	}
	g.request = &request{to: m, reason: reason}
	g.blocked = nil
	e.poke()
	return nil
}

func (e *Engine) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		e.mu.Lock()
		next := e.step()
		e.mu.Unlock()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-e.ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// step takes new evidence, updates health, decides and acts. It returns
// the next time it must run without new evidence (zero: none).
func (e *Engine) step() time.Time {
	e.inMu.Lock()
	var links map[string]linkEvidence
	var ips map[string]ipEvidence
	if len(e.inLink) > 0 {
		links, e.inLink = e.inLink, map[string]linkEvidence{}
	}
	if len(e.inIP) > 0 {
		ips, e.inIP = e.inIP, map[string]ipEvidence{}
	}
	e.counters.LinkEvidence, e.counters.IPEvidence, e.counters.UnknownEvidence = e.inCnt.link, e.inCnt.ip, e.inCnt.unknown
	e.inMu.Unlock()

	now := time.Now()
	// Both levels of a member's evidence first, then its health once: an
	// Observe that changes both must not show a health in between.
	for _, g := range e.groups {
		for _, m := range g.members {
			l, lok := links[m.name]
			ip, iok := ips[m.name]
			if !lok && !iok {
				continue
			}
			t := l.Time
			if lok {
				l := l // only a taken level is copied to the heap
				m.link = &l
				if l.Index != 0 {
					m.index = l.Index
				}
			}
			if iok {
				ip := ip
				m.ip = &ip
				if !lok || ip.Time.After(t) {
					t = ip.Time
				}
			}
			e.recompute(m, now, t, netpulse.ReasonNone)
		}
	}

	var next time.Time
	e.hintMu.Lock()
	hints := e.hints
	e.hints = nil
	e.hintMu.Unlock()
	for _, g := range e.groups {
		if e.ctx.Err() != nil {
			return time.Time{}
		}
		e.decide(g)
		now = time.Now()
		e.announce(g, now)
		e.announceSurvivors(g, now)
		next = earliest(next, g.own.due())
		if e.verifier != nil {
			hinted := slices.ContainsFunc(hints, func(h DriftHint) bool { return h.concerns(g) })
			e.verify(g, e.verifier, now, hinted)
			if g.state == GroupUp && g.active != nil && !g.dirty {
				next = earliest(next, g.verifyAt)
			}
		}
		for _, t := range []time.Time{g.wakeAt, g.retryAt} {
			next = earliest(next, t)
		}
		next = earliest(next, g.ann.due())
	}
	return next
}

// maxHints bounds the drift hints waiting for the engine's goroutine; past
// it they are folded into one "lost" hint (verify everything).
const maxHints = 256

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// recompute derives m's health from its evidence and flags and emits a
// HealthEvent when it changed. why overrides the reason (operator
// actions); evidence is the time of the evidence that caused it.
func (e *Engine) recompute(m *member, now, evidence time.Time, why netpulse.Reason) {
	h, f, r := evaluate(m.link, m.ip)
	if h == netpulse.HealthIPDown && m.group.cfg.DisableOnIPFailure {
		m.policyDisabled = true
	}
	switch {
	case m.opDisabled:
		h, r = netpulse.HealthDisabled, netpulse.ReasonDisabled
	case m.policyDisabled:
		h, r = netpulse.HealthDisabled, netpulse.ReasonIPDown
	}
	if why != netpulse.ReasonNone && h != netpulse.HealthDisabled {
		r = why
	}
	m.failure = f
	if h == m.health {
		return
	}
	from := m.health
	m.health, m.reason, m.since, m.evidence = h, r, now, evidence
	if from != netpulse.HealthUnknown {
		// Something changed: a blocked move may succeed now. A member's
		// first evidence is no such change (members report one by one
		// at start): it can only change the choice, and a move to
		// another target is not blocked anyway.
		m.group.blocked = nil
	}
	if from == netpulse.HealthUp && (h == netpulse.HealthLinkDown || h == netpulse.HealthIPDown) {
		e.survivorsLost(m.group, m, now)
	}
	if h == netpulse.HealthUp {
		m.upSince = now
	} else {
		m.upSince = time.Time{}
	}
	e.counters.HealthChanges++
	e.emit(&HealthEvent{
		Time: now, Interface: m.ifc(), Group: m.group.cfg.Name,
		From: from, To: h, Failure: f, Reason: r, EvidenceTime: evidence,
	})
	e.log("health", "interface", m.name, "from", from.String(), "to", h.String(), "failure", f.String(), "reason", r.String())
}

// failReason is the reason a move away from a member that is not up
// carries.
func failReason(m *member) netpulse.Reason {
	switch m.health {
	case netpulse.HealthIPDown:
		return netpulse.ReasonIPDown
	case netpulse.HealthDisabled:
		if m.opDisabled {
			return netpulse.ReasonManual
		}
		return netpulse.ReasonIPDown
	default:
		return netpulse.ReasonLinkDown
	}
}

// firstUp returns the first member in configured order (primary, then
// standbys) that is up, skipping except.
func (g *group) firstUp(except *member) *member {
	for _, m := range g.members {
		if m != except && m.health == netpulse.HealthUp {
			return m
		}
	}
	return nil
}

func (e *Engine) decide(g *group) {
	now := time.Now()
	g.wakeAt = time.Time{}

	anyUp, anyFailed, ipFailed := false, false, false
	for _, m := range g.members {
		switch m.health {
		case netpulse.HealthUp:
			anyUp = true
		case netpulse.HealthLinkDown, netpulse.HealthIPDown, netpulse.HealthDisabled:
			anyFailed = true
		}
		if m.failure == netpulse.FailureIPOnly {
			ipFailed = true
		}
	}
	state := GroupUnknown
	switch {
	case anyUp && !(g.cfg.SubnetDownOnIPFailure && ipFailed):
		state = GroupUp
	case anyFailed:
		state = GroupSubnetDown
	}
	if state != g.state {
		was := g.state
		g.state = state
		if state == GroupSubnetDown || was == GroupSubnetDown {
			e.emit(&GroupEvent{Time: now, Group: g.cfg.Name, SubnetDown: state == GroupSubnetDown})
			e.log("group", "group", g.cfg.Name, "state", state.String())
		}
	}
	if state != GroupUp {
		// Subnet down (or nothing known): nothing is touched, the
		// addresses stay where they are. A move that failed half way
		// (dirty) may have left them on two members, both failed; it is
		// completed when a member is up again. Finishing it now would put
		// them on a member that is not up (perhaps gone or disabled), with
		// announcements on a dead link and retries for as long as the
		// subnet stays down.
		g.request = nil
		g.retryAt, g.retryTarget = time.Time{}, nil
		return
	}

	var (
		target   *member
		reason   netpulse.Reason
		evidence time.Time
	)
	switch {
	case g.active == nil:
		switch {
		case g.initial.health == netpulse.HealthUp:
			target = g.initial
		case g.initial.health == netpulse.HealthUnknown && now.Before(e.start.Add(e.cfg.Settle)):
			g.wakeAt = e.start.Add(e.cfg.Settle)
			return
		default:
			target = g.firstUp(nil)
		}
		reason, evidence = netpulse.ReasonInitial, target.evidence
	case g.active.health != netpulse.HealthUp:
		target = g.firstUp(g.active)
		reason, evidence = failReason(g.active), g.active.evidence
	case g.request != nil:
		if g.request.to.health != netpulse.HealthUp {
			g.request = nil
			target = g.active
			break
		}
		target, reason = g.request.to, g.request.reason
	default:
		target = g.active
		p := g.members[0]
		if g.cfg.Failback == FailbackAuto && g.active != p && p.health == netpulse.HealthUp {
			due := p.upSince.Add(g.cfg.HoldDown)
			if d := g.lastSwitch.Add(g.cfg.MinDwell); d.After(due) {
				due = d
			}
			if now.Before(due) {
				g.wakeAt = due
			} else {
				target, reason, evidence = p, netpulse.ReasonFailback, p.evidence
			}
		}
	}
	if target == nil || (target == g.active && !g.dirty) {
		return
	}
	if target == g.retryTarget && now.Before(g.retryAt) {
		return // backing off
	}
	if target == g.blocked {
		return // a permanent error: reported, not retried until something changes
	}
	e.move(g, target, reason, evidence)
}

// move puts the group's addresses on target and nowhere else in the group:
// add on target first, then remove from every other member, then steer
// the return path and send the first announcement.
func (e *Engine) move(g *group, target *member, reason netpulse.Reason, evidence time.Time) {
	g.attempt++
	ctx, ifc := e.ctx, target.ifc()
	if cc, ok := e.act.(ConflictChecker); ok {
		// Before the first placement the address is probed for on the
		// wire; a move between members only re-checks the host's own
		// interfaces, so that a failover is never delayed by a probe.
		members := make([]netpulse.Interface, len(g.members))
		for i, m := range g.members {
			members[i] = m.ifc()
		}
		if err := cc.CheckConflict(ctx, ifc, g.cfg.Addresses, members, !g.placed); err != nil {
			var p netip.Prefix
			if ce, ok := err.(*ConflictError); ok {
				p = ce.Address
			}
			e.failed(g, target, OpConflict, ifc, p, err)
			return
		}
	}
	// Nothing was touched before this point: a refused move leaves no
	// half move behind.
	g.dirty = true
	for _, p := range g.cfg.Addresses {
		if err := e.act.AddAddress(ctx, ifc, p); err != nil {
			e.failed(g, target, OpAdd, ifc, p, err)
			return
		}
	}
	for _, m := range g.members {
		if m == target {
			continue
		}
		for _, p := range g.cfg.Addresses {
			if err := e.act.RemoveAddress(ctx, m.ifc(), p); err != nil {
				e.failed(g, target, OpRemove, m.ifc(), p, err)
				return
			}
		}
	}
	if err := e.act.SteerReturn(ctx, ifc, g.cfg.Addresses); err != nil {
		e.failed(g, target, OpSteer, ifc, netip.Prefix{}, err)
		return
	}
	from := g.active
	attempts := g.attempt
	g.active, g.dirty, g.attempt, g.retryAt, g.retryTarget, g.lastErr = target, false, 0, time.Time{}, nil, nil
	g.blocked, g.permErr, g.placed, g.returnShadowed, g.shadowStreak = nil, nil, true, false, 0
	g.verifyAt = time.Now().Add(e.cfg.RepairInterval)
	if r := g.request; r != nil && r.to == target {
		g.request = nil
	}
	if from == target {
		// A move that failed half way was completed: nothing moved.
		return
	}
	now := time.Now()
	g.lastSwitch, g.lastReason = now, reason
	g.switches++
	e.counters.Switches++
	if reason == netpulse.ReasonFailback {
		e.counters.Failbacks++
	}
	// The first announcement goes out at once, before the event.
	g.annTo, g.ann = target, rounds{left: g.cfg.AnnounceCount, next: now}
	e.announce(g, now)
	// The member that gave the addresses up may be left with no address
	// of its own in that family; the kernel then resolves its neighbours
	// with another member's own address as ARP sender and points the
	// neighbour's entry for that address at this member's NIC (seen after
	// a failback: the primary's own address learnt at the standby's MAC,
	// so the primary's replies came in through the standby). So the
	// members' own addresses are announced after every move, as after a
	// failure (announceSurvivors, after this announcement).
	if from != nil && g.own.left <= 0 {
		e.survivorsLost(g, nil, now)
	}
	done := time.Now()
	ev := &SwitchEvent{
		Time: done, Group: g.cfg.Name, Addresses: append([]netip.Prefix(nil), g.cfg.Addresses...),
		To: ifc, Reason: reason, EvidenceTime: evidence, Attempts: attempts,
	}
	if from != nil {
		ev.From = from.ifc()
	}
	if !evidence.IsZero() {
		ev.Latency = done.Sub(evidence)
	}
	e.emit(ev)
	e.log("switch", "group", g.cfg.Name, "from", ev.From.Name, "to", ifc.Name, "reason", reason.String(), "latency", ev.Latency)
}

func (e *Engine) failed(g *group, target *member, op string, ifc netpulse.Interface, p netip.Prefix, err error) {
	if e.ctx.Err() != nil {
		return // closing: the context was canceled under the actuator
	}
	if IsPermanent(err) {
		// Retrying cannot help (a missing privilege or member, an address
		// held elsewhere): report it at once, once.
		now := time.Now()
		g.retryAt, g.retryTarget, g.lastErr = time.Time{}, nil, err
		g.blocked, g.permErr = target, err
		e.counters.ActionErrors++
		e.counters.PermanentErrors++
		e.emit(&ActionErrorEvent{Time: now, Group: g.cfg.Name, Op: op, Interface: ifc, Address: p, Err: err, Attempt: g.attempt, Permanent: true})
		e.log("action failed permanently", "group", g.cfg.Name, "op", op, "interface", ifc.Name, "address", p, "err", err)
		return
	}
	d := e.cfg.RetryMin
	for i := 1; i < g.attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	if d > e.cfg.RetryMax {
		d = e.cfg.RetryMax
	}
	now := time.Now()
	g.retryAt, g.retryTarget, g.lastErr = now.Add(d), target, err
	e.counters.ActionErrors++
	e.emit(&ActionErrorEvent{Time: now, Group: g.cfg.Name, Op: op, Interface: ifc, Address: p, Err: err, Attempt: g.attempt, RetryIn: d})
	e.log("action failed", "group", g.cfg.Name, "op", op, "interface", ifc.Name, "address", p, "err", err, "retry_in", d)
}

// announce sends the rounds of announcements that are due.
func (e *Engine) announce(g *group, now time.Time) {
	if g.annTo != g.active {
		g.ann.left = 0 // the addresses are no longer on annTo
	}
	if !g.ann.take(now, g.cfg.AnnounceInterval) {
		return
	}
	e.counters.Announcements++
	if err := e.act.Announce(e.ctx, g.annTo.ifc(), g.cfg.Addresses); err != nil && e.ctx.Err() == nil {
		e.counters.AnnounceErrors++
		perm := IsPermanent(err)
		if perm {
			e.counters.PermanentErrors++
		}
		e.emit(&ActionErrorEvent{Time: now, Group: g.cfg.Name, Op: OpAnnounce, Interface: g.annTo.ifc(), Err: err, Permanent: perm})
	}
}

func (e *Engine) emit(ev netpulse.Event) {
	e.evMu.Lock()
	defer e.evMu.Unlock()
	switch ev := ev.(type) {
	case *HealthEvent:
		e.lastHealth[ev.Interface.Name] = ev
	case *GroupEvent:
		e.lastGroup[ev.Group] = ev
	}
	e.hub.Publish(ev)
}

func (e *Engine) log(msg string, args ...any) {
	if e.cfg.Logger != nil {
		e.cfg.Logger.Info("failover: "+msg, args...)
	}
}
