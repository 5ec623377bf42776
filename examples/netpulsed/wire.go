package main

// wire.go holds all the wiring of the netpulse packages (linkmon, ipmon,
// route, failover): the rest of the daemon sees notices, status reports
// and metrics sources only, so that a change of the packages' API touches
// this file (and metrics.go) alone.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/metrics"
	"github.com/netpulse/netpulse/route"
)

// maxSteered is how many subnets may steer routes: each Steerer needs its
// own route protocol number, taken from netpulse.DefaultRouteProtocol up.
const maxSteered = 255 - int(netpulse.DefaultRouteProtocol) + 1

// openNetNS opens the configured namespace (nil file: the daemon's own).
func openNetNS(c *config) (*os.File, int, error) {
	if c.NetNS == "" {
		return nil, 0, nil
	}
	f, err := os.Open(c.NetNS)
	if err != nil {
		return nil, 0, c.errorAt("netns", "netns: %v", err)
	}
	return f, int(f.Fd()), nil
}

// checkKernel makes the checks that need the namespace: every interface
// exists, no polling target is one of the node's own addresses, and a
// monitored subnet without polling targets has a first-hop router to
// probe (then recorded in the subnet's discovered targets). check and the
// daemon's start and reload all run it, so they give the same messages.
func checkKernel(ctx context.Context, c *config) configErrors {
	f, fd, err := openNetNS(c)
	if err != nil {
		return configErrors{err.(configError)}
	}
	if f != nil {
		defer f.Close()
	}
	v, err := route.OpenView(ctx, &route.ViewConfig{NetNS: fd})
	if err != nil {
		msg := fmt.Sprintf("cannot read the namespace's links and addresses: %v", err)
		if errors.Is(err, os.ErrPermission) {
			msg += " (netpulsed needs CAP_NET_ADMIN and CAP_NET_RAW, and CAP_SYS_ADMIN to enter the namespace given by netns)"
		}
		return configErrors{c.errorAt("netns", "%s", msg)}
	}
	defer v.Close()
	links := map[string]int{}
	local := map[netip.Addr]string{}
	for _, l := range v.Links() {
		links[l.Name] = l.Index
		for _, a := range v.Addresses(l.Index) {
			local[a.Prefix.Addr()] = l.Name
		}
	}
	var errs configErrors
	for _, g := range c.Groups {
		for _, m := range g.members() {
			if _, ok := links[m]; !ok {
				errs = append(errs, c.errorAt(memberKey{g.Name, m}, "group %s: member %s: no such interface", g.Name, m))
			}
		}
	}
	for i := range c.Subnets {
		s := &c.Subnets[i]
		for _, n := range s.Interfaces {
			if _, ok := links[n]; !ok {
				errs = append(errs, c.errorAt(memberKey{subnetTag(s.line), n}, "subnet %v: interface %s: no such interface", s.Prefix, n))
			}
		}
		for _, a := range s.PollingTargets {
			if on, ok := local[a]; ok {
				errs = append(errs, c.errorAt(targetKey{s.Prefix, a}, "subnet %v: polling target %v is an address of this node (on %s): a node can always ping itself", s.Prefix, a, on))
			}
		}
		s.discovered = nil
		if s.IPMonitor && len(s.PollingTargets) == 0 {
			for _, n := range s.Interfaces {
				if _, ok := links[n]; !ok {
					continue
				}
				gws, err := ipmon.Discover(ctx, fd, n)
				if err != nil {
					errs = append(errs, c.errorAt(subnetKey(s.Prefix), "subnet %v: discovering the router on %s: %v", s.Prefix, n, err))
					continue
				}
				for _, gw := range gws {
					if s.Prefix.Contains(gw) && !slices.Contains(s.discovered, gw) {
						s.discovered = append(s.discovered, gw)
					}
				}
			}
			if len(s.discovered) == 0 {
				errs = append(errs, c.errorAt(subnetKey(s.Prefix), "subnet %v: ip_monitor is on but no polling_targets are given and no first-hop router in the subnet was found on %s: name polling_targets or set ip_monitor: off", s.Prefix, strings.Join(s.Interfaces, ", ")))
			}
		}
	}
	steered := 0
	for _, s := range c.Subnets {
		if s.SteerRoutes {
			steered++
		}
	}
	if steered > maxSteered {
		errs = append(errs, c.errorAt(subnetKey(c.Subnets[len(c.Subnets)-1].Prefix), "at most %d subnets can steer routes (%d do)", maxSteered, steered))
	}
	return errs
}

// targets returns the ipmon targets of a subnet: each polling target (or
// discovered router) out of each of its interfaces.
func (s subnetConfig) targets() []ipmon.Target {
	if !s.IPMonitor {
		return nil
	}
	addrs := s.PollingTargets
	if len(addrs) == 0 {
		addrs = s.discovered
	}
	var out []ipmon.Target
	for _, n := range s.Interfaces {
		for _, a := range addrs {
			out = append(out, ipmon.Target{Addr: a, Interface: n, Interval: s.Probe.Interval, Timeout: s.Probe.Timeout,
				FailAfter: s.Probe.FailAfter, RecoverAfter: s.Probe.RecoverAfter})
		}
	}
	return out
}

// permanent rewords a permission error so that it names what is missing.
func permanent(what string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s: %w (netpulsed needs CAP_NET_ADMIN and CAP_NET_RAW)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// engine is what the daemon runs for one configuration: the detectors,
// the health Monitor over them, one failover Engine per group and one route Steerer per
// steered subnet. Groups and subnets are started and stopped one by one,
// so that a reload leaves alone what did not change.
type engine struct {
	log    *slog.Logger
	nsFile *os.File
	fd     int
	act    *failover.KernelActuator
	links  *linkmon.Watcher
	probes *ipmon.Poller
	health *health.Monitor
	emit   func(notice)

	mu       sync.Mutex
	groups   map[string]*groupRun
	order    []string // group names in configured order
	subnets  map[netip.Prefix]*subnetRun
	sorder   []netip.Prefix
	targets  map[targetID]ipmon.Target
	switches map[[2]string]uint64 // (group, reason) -> moves
	ifaces   map[string]bool      // every configured interface
}

// targetID identifies an ipmon target.
type targetID struct {
	iface string
	addr  netip.Addr
}

type groupRun struct {
	cfg    groupConfig
	eng    *failover.Engine
	cancel context.CancelFunc
	done   chan struct{}
}

type subnetRun struct {
	cfg    subnetConfig
	st     *route.Steerer // nil unless steer_routes
	slot   int
	cancel context.CancelFunc // ends the Steerer's feed
	done   chan struct{}
}

// startEngine opens the detectors and starts every group and subnet of c.
// It returns only when everything started; on error, what was opened is
// closed again (never half-configured).
func startEngine(ctx context.Context, c *config, log *slog.Logger, emit func(notice)) (_ *engine, err error) {
	e := &engine{log: log, emit: emit, groups: map[string]*groupRun{}, subnets: map[netip.Prefix]*subnetRun{},
		targets: map[targetID]ipmon.Target{}, switches: map[[2]string]uint64{}}
	defer func() {
		if err != nil {
			e.close(true)
		}
	}()
	e.nsFile, e.fd, err = openNetNS(c)
	if err != nil {
		return nil, err
	}
	if e.act, err = failover.OpenActuator(ctx, &failover.ActuatorConfig{NetNS: e.fd, Logger: log}); err != nil {
		return nil, permanent("address actuator", err)
	}
	if e.links, err = linkmon.Open(ctx, &linkmon.Config{NetNS: e.fd, Logger: log}); err != nil {
		return nil, permanent("link watcher", err)
	}
	if e.probes, err = ipmon.Open(ctx, &ipmon.Config{NetNS: e.fd, Logger: log}); err != nil {
		return nil, permanent("IP monitor", err)
	}
	if e.health, err = health.New(ctx, &health.Config{Links: e.links, Probes: e.probes}); err != nil {
		return nil, permanent("health monitor", err)
	}
	if err := e.apply(ctx, c); err != nil {
		return nil, err
	}
	return e, nil
}

// apply makes the running groups, subnets and targets those of c: an
// unchanged group or subnet is left alone, a changed one is restarted (a
// group keeps its addresses on the member holding them), a new one
// started, a removed one stopped.
func (e *engine) apply(ctx context.Context, c *config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Stop what went away or changed first: its interfaces may be reused.
	keepG := map[string]bool{}
	for _, g := range c.Groups {
		if r, ok := e.groups[g.Name]; ok && r.cfg.equal(g) {
			keepG[g.Name] = true
		}
	}
	holders := map[string]string{}
	for name, r := range e.groups {
		if keepG[name] {
			continue
		}
		if g := r.eng.Snapshot().Groups; len(g) == 1 {
			holders[name] = g[0].Active
		}
		r.stopRun()
		delete(e.groups, name)
	}
	keepS := map[netip.Prefix]bool{}
	for _, s := range c.Subnets {
		if r, ok := e.subnets[s.Prefix]; ok && r.cfg.equal(s) {
			keepS[s.Prefix] = true
		}
	}
	for p, r := range e.subnets {
		if !keepS[p] {
			if err := r.stopRun(); err != nil {
				e.log.Warn("restoring routes", "prefix", p, "err", err)
			}
			delete(e.subnets, p)
		}
	}
	// Targets: remove the ones no subnet wants, add the new ones.
	want := map[targetID]ipmon.Target{}
	for _, s := range c.Subnets {
		for _, t := range s.targets() {
			id := targetID{t.Interface, t.Addr}
			if _, dup := want[id]; !dup {
				want[id] = t
			}
		}
	}
	for id, t := range e.targets {
		if nt, ok := want[id]; !ok || nt != t {
			if err := e.probes.Remove(t); err != nil {
				e.log.Warn("removing target", "target", t, "err", err)
			}
			delete(e.targets, id)
		}
	}
	for id, t := range want {
		if _, ok := e.targets[id]; ok {
			continue
		}
		if err := e.probes.Add(t); err != nil {
			return c.errorAt(targetKey{prefixOf(c, t), t.Addr}, "polling target %v on %s: %v", t.Addr, t.Interface, err)
		}
		e.targets[id] = t
	}
	e.ifaces = map[string]bool{}
	for _, g := range c.Groups {
		for _, m := range g.members() {
			e.ifaces[m] = true
		}
	}
	for _, s := range c.Subnets {
		for _, n := range s.Interfaces {
			e.ifaces[n] = true
		}
	}
	// Start subnets, then groups.
	e.sorder = e.sorder[:0]
	for _, s := range c.Subnets {
		e.sorder = append(e.sorder, s.Prefix)
		if keepS[s.Prefix] {
			continue
		}
		r := &subnetRun{cfg: s, done: make(chan struct{})}
		if s.SteerRoutes {
			r.slot = e.freeSlot()
			st, err := route.OpenSteerer(ctx, &route.SteererConfig{NetNS: e.fd, Prefixes: []netip.Prefix{s.Prefix},
				Interfaces: s.Interfaces, Markers: netpulse.Markers{RouteProtocol: netpulse.DefaultRouteProtocol + uint8(r.slot)}, Logger: e.log})
			if err != nil {
				return permanent(fmt.Sprintf("subnet %v: steering", s.Prefix), err)
			}
			r.st = st
			steered := st.Subscribe(context.Background()) // ended by st.Close
			var fctx context.Context
			fctx, r.cancel = context.WithCancel(context.Background())
			if err := e.feed(fctx, st, s.Interfaces); err != nil {
				r.cancel()
				st.Close()
				return fmt.Errorf("subnet %v: %w", s.Prefix, err)
			}
			go func() {
				defer close(r.done)
				for ev := range steered {
					if n, ok := routeNotice(ev); ok {
						e.emit(n)
					}
				}
			}()
		} else {
			close(r.done)
		}
		e.subnets[s.Prefix] = r
	}
	e.order = e.order[:0]
	for _, g := range c.Groups {
		e.order = append(e.order, g.Name)
		if keepG[g.Name] {
			continue
		}
		initial, ok := holders[g.Name]
		if !ok || initial == "" || !slices.Contains(g.members(), initial) {
			var err error
			if initial, err = e.act.Holder(ctx, g.members(), g.Addresses); err != nil {
				return fmt.Errorf("group %s: finding the addresses: %w", g.Name, err)
			}
		}
		if err := e.startGroup(g, initial); err != nil {
			return err
		}
	}
	return nil
}

func prefixOf(c *config, t ipmon.Target) netip.Prefix {
	for _, s := range c.Subnets {
		if slices.Contains(s.Interfaces, t.Interface) && (slices.Contains(s.PollingTargets, t.Addr) || slices.Contains(s.discovered, t.Addr)) {
			return s.Prefix
		}
	}
	return netip.Prefix{}
}

func (e *engine) freeSlot() int {
	for slot := 0; ; slot++ {
		used := false
		for _, r := range e.subnets {
			if r.st != nil && r.slot == slot {
				used = true
			}
		}
		if !used {
			return slot
		}
	}
}

func (e *engine) startGroup(g groupConfig, initial string) error {
	fb, err := failover.ParseFailbackPolicy(g.Failback)
	if err != nil {
		return err
	}
	eng, err := failover.Open(context.Background(), &failover.Config{
		Groups: []failover.GroupConfig{{Name: g.Name, Primary: g.Primary, Standbys: g.Standbys, Addresses: g.Addresses,
			Initial: initial, Failback: fb, HoldDown: g.HoldDown, NoHoldDown: g.HoldDown == 0}},
		Actuator: sharedActuator{e.act}, Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	gctx, cancel := context.WithCancel(context.Background())
	r := &groupRun{cfg: g, eng: eng, cancel: cancel, done: make(chan struct{})}
	events := eng.Subscribe(gctx)
	if err := e.feed(gctx, eng, g.members()); err != nil {
		cancel()
		eng.Close()
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	go func() {
		defer close(r.done)
		for ev := range events {
			if sw, ok := ev.(*failover.SwitchEvent); ok && sw.Reason != netpulse.ReasonInitial {
				e.mu.Lock()
				e.switches[[2]string{sw.Group, sw.Reason.String()}]++
				e.mu.Unlock()
			}
			for _, n := range engineNotices(ev) {
				if n.Group == "" {
					n.Group = g.Name // a health event: the member's group
				}
				e.emit(n)
			}
		}
	}()
	e.groups[g.Name] = r
	return nil
}

// sharedActuator lends the daemon's actuator to a group's engine, which
// closes the actuator it owns: the daemon closes this one itself, last.
type sharedActuator struct{ *failover.KernelActuator }

// Close does nothing.
func (sharedActuator) Close() error { return nil }

// stopRun stops managing the group: its addresses stay where they are.
func (r *groupRun) stopRun() {
	r.cancel()
	r.eng.Close()
	<-r.done
}

// stopRun stops steering the subnet: the Steerer's routes are removed and
// the sysctls it changed put back.
func (r *subnetRun) stopRun() error {
	if r.st == nil {
		return nil
	}
	r.cancel()
	err := r.st.Close()
	<-r.done
	return err
}

// close stops everything: groups first (addresses stay), then the
// Steerers (routes and sysctls restored), then the detectors.
func (e *engine) close(failed bool) error {
	var errs []error
	e.mu.Lock()
	for _, r := range e.groups {
		r.stopRun()
	}
	e.groups = map[string]*groupRun{}
	for p, r := range e.subnets {
		if err := r.stopRun(); err != nil {
			errs = append(errs, fmt.Errorf("subnet %v: restoring: %w", p, err))
		}
	}
	e.subnets = map[netip.Prefix]*subnetRun{}
	e.mu.Unlock()
	if e.health != nil {
		e.health.Close() // ends every feed
	}
	if e.probes != nil {
		e.probes.Close()
	}
	if e.links != nil {
		e.links.Close()
	}
	if e.act != nil {
		e.act.Close()
	}
	if e.nsFile != nil {
		e.nsFile.Close()
	}
	_ = failed
	return errors.Join(errs...)
}

// placed reports whether every group's addresses are placed (or the group
// is subnet-down: no member can take them), and every target has left the
// unknown state: the initial state is known.
func (e *engine) placed() (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var waiting []string
	for _, name := range e.order {
		r := e.groups[name]
		g := r.eng.Snapshot().Groups[0]
		if g.Active == "" && g.State != failover.GroupSubnetDown {
			waiting = append(waiting, "group "+name)
		}
	}
	for _, t := range e.probes.Snapshot().Targets {
		if t.State == ipmon.TargetUnknown {
			waiting = append(waiting, "target "+t.Target.Addr.String()+" on "+t.Target.Interface)
		}
	}
	return len(waiting) == 0, strings.Join(waiting, ", ")
}

// summary is the one-line STATUS= for systemd.
func (e *engine) summary() string {
	st := e.status()
	var parts []string
	for _, g := range st.Groups {
		a := g.Active
		if a == "" {
			a = "nowhere"
		}
		parts = append(parts, fmt.Sprintf("%s %s on %s", g.Name, g.State, a))
	}
	steered := 0
	for _, s := range st.Subnets {
		if s.Steered {
			steered++
		}
	}
	parts = append(parts, fmt.Sprintf("%d subnets (%d steered)", len(st.Subnets), steered))
	return strings.Join(parts, "; ")
}

// status builds the report the control socket serves.
func (e *engine) status() statusReport {
	e.mu.Lock()
	defer e.mu.Unlock()
	rep := statusReport{Time: jsonl.Stamp(time.Now())}
	for _, name := range e.order {
		g := e.groups[name].eng.Snapshot().Groups[0]
		gs := groupStatus{Name: g.Name, State: g.State.String(), Active: g.Active, Failback: g.Failback.String(),
			FailbackPending: g.FailbackPending, Switches: g.Switches, LastReason: g.LastReason.String(), LastError: g.LastError}
		for _, a := range g.Addresses {
			gs.Addresses = append(gs.Addresses, a.String())
		}
		if !g.LastSwitch.IsZero() {
			gs.LastSwitch = jsonl.Stamp(g.LastSwitch)
		}
		for _, m := range g.Members {
			ms := memberStatus{Name: m.Name, Role: m.Role, Active: m.Active, Health: m.Health.String(),
				Failure: m.Failure.String(), Link: m.Link.String(), IP: m.IP.String(), Reason: m.Reason.String(), Disabled: m.Disabled}
			if !m.Since.IsZero() {
				ms.Since = jsonl.Stamp(m.Since)
			}
			gs.Members = append(gs.Members, ms)
		}
		rep.Groups = append(rep.Groups, gs)
	}
	probes := e.probes.Snapshot()
	for _, p := range e.sorder {
		r := e.subnets[p]
		ss := subnetStatus{Prefix: p.String(), Interfaces: r.cfg.Interfaces, IPMonitor: r.cfg.IPMonitor, SteerRoutes: r.cfg.SteerRoutes}
		if r.st != nil {
			for _, gd := range r.st.Snapshot().Guards {
				if gd.Dst == p {
					ss.Interface, ss.Natural, ss.Steered, ss.Reason = gd.Interface.Name, gd.Natural.Name, gd.Steered, string(gd.Reason)
				}
			}
		}
		for _, t := range probes.Targets {
			if !slices.Contains(r.cfg.Interfaces, t.Target.Interface) || !slices.ContainsFunc(r.cfg.targets(), func(x ipmon.Target) bool {
				return x.Addr == t.Target.Addr && x.Interface == t.Target.Interface
			}) {
				continue
			}
			ts := targetStatus{Interface: t.Target.Interface, Target: t.Target.Addr.String(), State: t.State.String(),
				RTTMicros: t.LastRTT.Microseconds(), Loss: t.Loss}
			ss.Targets = append(ss.Targets, ts)
		}
		rep.Subnets = append(rep.Subnets, ss)
	}
	return rep
}

// engineNotices converts a failover event to notices (a switch of several
// addresses is one notice with one record per address).
func engineNotices(ev netpulse.Event) []notice {
	switch ev := ev.(type) {
	case *failover.HealthEvent:
		if ev.Initial {
			return nil // the state at Subscribe: no change to notify
		}
		return []notice{{Time: ev.Time, Event: "health", Group: "", Interface: ev.Interface.Name, State: ev.To.String(),
			Failure: ev.Failure.String(), From: ev.From.String(), To: ev.To.String(), Reason: ev.Reason.String(),
			Records: []any{jsonl.HealthRecord(ev)},
			Text:    fmt.Sprintf("%s health %s -> %s (failure %s, reason %s)", ev.Interface.Name, ev.From, ev.To, ev.Failure, ev.Reason)}}
	case *failover.SwitchEvent:
		var addrs []string
		for _, a := range ev.Addresses {
			addrs = append(addrs, a.String())
		}
		n := notice{Time: ev.Time, Event: "switch", Group: ev.Group, Interface: ev.To.Name, Addresses: addrs,
			From: ev.From.Name, To: ev.To.Name, Reason: ev.Reason.String()}
		if ev.Reason == netpulse.ReasonInitial {
			n.Event = "" // no record, no hook: the initial placement is no move
			n.Text = fmt.Sprintf("group %s: placed %s on %s", ev.Group, strings.Join(addrs, ","), ev.To.Name)
			return []notice{n}
		}
		for _, r := range jsonl.SwitchRecords(ev) {
			n.Records = append(n.Records, r)
		}
		n.Text = fmt.Sprintf("group %s: switch %s %s -> %s (reason %s, %v after the evidence)", ev.Group, strings.Join(addrs, ","),
			ev.From.Name, ev.To.Name, ev.Reason, ev.Latency.Round(time.Microsecond))
		return []notice{n}
	case *failover.GroupEvent:
		if ev.Initial {
			return nil
		}
		state := "up"
		if ev.SubnetDown {
			state = "subnet-down"
		}
		return []notice{{Time: ev.Time, Event: "subnet", Group: ev.Group, State: state,
			Records: []any{subnetRecord{jsonl.Stamp(ev.Time), "subnet", ev.Group, state}},
			Text:    fmt.Sprintf("group %s %s", ev.Group, state)}}
	case *failover.ActionErrorEvent:
		what := ev.Op + " on " + ev.Interface.Name
		if ev.Address.IsValid() {
			what = ev.Op + " " + ev.Address.String() + " on " + ev.Interface.Name
		}
		return []notice{{Time: ev.Time, Text: fmt.Sprintf("%s failed: %v (retry in %v)", what, ev.Err, ev.RetryIn), Error: true}}
	}
	return nil
}

// routeNotice converts a Steerer event; the actions outside the record
// contract (reconciliations, restores) and the Steerer's own condition are
// text only.
func routeNotice(e netpulse.Event) (notice, bool) {
	ev, ok := e.(*route.SteerEvent)
	if !ok {
		return steererNotice(e)
	}
	if ev.Initial {
		return notice{}, false // the state at Subscribe: no steering action
	}
	n := notice{Time: ev.Time, Prefix: ev.Dst.String(), Interface: ev.Interface.Name, From: ev.Previous.Name,
		To: ev.Interface.Name, Reason: ev.Reason.String()}
	if rec, ok := jsonl.RouteRecord(ev); ok {
		n.Event = "route"
		n.Records = []any{rec}
		n.Text = fmt.Sprintf("route %v %s -> %s (%s)", ev.Dst, orNone(ev.Previous.Name), orNone(ev.Interface.Name), ev.Reason)
	} else {
		n.Text = fmt.Sprintf("route %v %s (%s: %d routes added, %d removed)", ev.Dst, orNone(ev.Interface.Name), ev.Reason, len(ev.Added), len(ev.Removed))
	}
	if ev.Err != nil {
		n.Text += ": " + ev.Err.Error()
		n.Error = true
	}
	return n, true
}

// steererNotice converts a change of a Steerer's condition, or a drop of
// its events, to text.
func steererNotice(e netpulse.Event) (notice, bool) {
	switch ev := e.(type) {
	case *netpulse.ConditionEvent:
		n := notice{Time: ev.Time, Reason: ev.Reason.String(), Text: "route steering " + ev.Reason.String()}
		if ev.Condition.Err != nil {
			n.Text += ": " + ev.Condition.Err.Error()
			n.Error = true
		}
		return n, true
	case *netpulse.DropEvent:
		return notice{Time: ev.Time, Text: fmt.Sprintf("route steering: %d events dropped", ev.Count), Error: true}, true
	}
	return notice{}, false
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// feed applies the health Monitor's evidence of the named interfaces to o
// (a group's Engine, a subnet's Steerer) until ctx ends: the current
// evidence first, then every change. Groups and subnets come and go with
// reloads, so each is fed with a ctx of its own, cancelled when it stops.
func (e *engine) feed(ctx context.Context, o netpulse.Observer, names []string) error {
	return e.health.Feed(ctx, named{o, names})
}

// named passes on the evidence of the named interfaces only: a Steerer
// reconciles on every evidence, so evidence it does not steer by would cost
// it a reconciliation for nothing.
type named struct {
	o     netpulse.Observer
	names []string
}

// Observe implements netpulse.Observer.
func (n named) Observe(ev netpulse.Evidence) {
	if slices.Contains(n.names, ev.Interface.Name) {
		n.o.Observe(ev)
	}
}

// metricsSources are the metrics package's sources over the engine.
func (e *engine) metricsSources(hookFailures func() uint64) metrics.Sources {
	return metrics.Sources{
		Links: func() linkmon.Snapshot {
			s := e.links.Snapshot()
			e.mu.Lock()
			defer e.mu.Unlock()
			s.Links = slices.DeleteFunc(s.Links, func(l linkmon.State) bool { return !e.ifaces[l.Name] })
			return s
		},
		Probes: e.probes.Snapshot,
		Groups: func() []failover.Status {
			e.mu.Lock()
			defer e.mu.Unlock()
			var out []failover.Status
			for _, name := range e.order {
				out = append(out, e.groups[name].eng.Snapshot())
			}
			return out
		},
		Switches: func() map[metrics.SwitchKey]uint64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			out := make(map[metrics.SwitchKey]uint64, len(e.switches))
			for k, v := range e.switches {
				out[metrics.SwitchKey{Group: k[0], Reason: k[1]}] = v
			}
			return out
		},
		Steering: func() []route.SteererSnapshot {
			e.mu.Lock()
			defer e.mu.Unlock()
			var out []route.SteererSnapshot
			for _, p := range e.sorder {
				if r := e.subnets[p]; r.st != nil {
					out = append(out, r.st.Snapshot())
				}
			}
			return out
		},
		HookFailures: hookFailures,
	}
}
