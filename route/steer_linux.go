//go:build linux

package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// steerKernel is the Linux part of a Steerer: its netlink socket, its
// goroutine, the sysctls it changed.
type steerKernel struct {
	rt      *rtnetlink.Conn
	viewC   <-chan netpulse.Event
	unsub   context.CancelFunc
	recMu   sync.Mutex // serialises reconciliations
	stopped bool       // under recMu: Close began
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	sysctls []sysctlValue
	pending pendingRoutes // under recMu

	// nsFD is the Steerer's own duplicate of the caller's namespace
	// descriptor (0: the caller's namespace), closed by Close.
	nsFD int

	// routeFault, if set (tests), fails route changes before they reach
	// the kernel when it returns an error.
	routeFault atomic.Pointer[func(r *Route, add bool) error]
}

type sysctlValue struct {
	key, old string
	mark     Route
}

// open opens the Steerer's view and socket, cleans up after an earlier
// Steerer, sets the sysctls, reconciles once and starts the goroutine.
func (s *Steerer) open(ctx context.Context) error {
	s.done = make(chan struct{})
	var err error
	// Its own copy of the caller's descriptor: the sysctls are put back
	// on Close, maybe long after the caller closed its own.
	if s.cfg.NetNS != 0 {
		if s.nsFD, err = dupNetNS(s.cfg.NetNS); err != nil {
			return err
		}
		s.cfg.NetNS = s.nsFD
	}
	s.view, err = OpenView(ctx, &ViewConfig{NetNS: s.cfg.NetNS, Tables: []uint32{s.cfg.Table}, Prefer: s.cfg.Interfaces, Logger: s.cfg.Logger, Coalesce: s.cfg.Coalesce})
	if err != nil {
		closeNetNS(&s.nsFD)
		return err
	}
	s.rt, err = rtnetlink.Dial(s.view.cfgNetlink())
	if err != nil {
		s.view.Close()
		closeNetNS(&s.nsFD)
		return wrapErr("dial", err)
	}
	var vctx context.Context
	vctx, s.unsub = context.WithCancel(context.Background())
	s.viewC = s.view.Subscribe(vctx)
	fail := func(err error) error {
		s.restoreSysctls()
		s.release()
		return err
	}
	// A Steerer that may not change routes protects nothing: say so now,
	// not at the first failure (which may come long after, and is then
	// only an error event).
	if err := s.checkPermission(); err != nil {
		return fail(err)
	}
	s.removeStale()
	s.recoverSysctls()
	if !s.cfg.KeepLinkdownSysctl {
		if err := s.setSysctls(); err != nil {
			return fail(err)
		}
	}
	s.reconcile(false)
	s.wg.Add(1)
	go s.run()
	return nil
}

// apply reconciles in the caller's goroutine, so that a health verdict
// reaches the kernel without waiting for another goroutine to be
// scheduled. It does nothing once Close began.
func (s *Steerer) apply() {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.stopped {
		return
	}
	s.reconcile(true)
}

// closeKernel restores the kernel and releases what open opened.
func (s *Steerer) closeKernel() error {
	var err error
	s.once.Do(func() {
		s.stop()
		err = s.restore()
		s.restoreSysctls()
		s.release()
	})
	return err
}

// release closes what open opened once the view was subscribed: the
// subscription, the socket, the view and the namespace duplicate.
func (s *Steerer) release() {
	s.unsub()
	s.rt.Close()
	s.view.Close()
	closeNetNS(&s.nsFD)
}

// abandon stops the Steerer without restoring anything, as a killed
// program would (for tests of restart recovery).
func (s *Steerer) abandon() {
	s.once.Do(func() {
		s.stop()
		s.release()
	})
	s.hub.Close()
}

// stop ends reconciliation: no health setter reconciles afterwards, and
// the goroutine has returned.
func (s *steerKernel) stop() {
	s.recMu.Lock()
	s.stopped = true
	s.recMu.Unlock()
	close(s.done)
	s.wg.Wait()
}

func (s *Steerer) run() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case _, ok := <-s.viewC:
			if !ok {
				return
			}
		}
		s.apply()
	}
}

func (s *Steerer) guardedIndexes(t *Table) map[int]bool {
	m := map[int]bool{}
	for _, n := range s.cfg.Interfaces {
		if l, ok := t.LinkByName(n); ok {
			m[l.Index] = true
		}
	}
	return m
}

// plans returns the plan of every guarded prefix in t, by the health the
// Steerer was fed.
func (s *Steerer) plans(t *Table) []steerPlan {
	g := s.guardedIndexes(t)
	guarded := func(i int) bool { return g[i] }
	plans := make([]steerPlan, 0, len(s.cfg.Prefixes))
	for _, p := range s.cfg.Prefixes {
		plans = append(plans, t.plan(p, s.cfg.Table, s, guarded, s.cfg.protocol(), s.cfg.Markers.RouteMetric))
	}
	return plans
}

// reconcile computes the plan of every guarded prefix and applies it.
func (s *Steerer) reconcile(emit bool) {
	var plans []steerPlan
	var flagged map[int]bool
	var firstErr error
	s.view.Read(s.cfg.Table, func(t *Table) {
		plans = s.plans(t)
		for i := range plans {
			s.pending.adjust(&plans[i], t)
		}
		flagged = linkdownIndexes(t)
	})
	guards := make([]GuardState, len(plans))
	for i := range plans {
		pl := &plans[i]
		guards[i] = guardOf(pl)
		add, del := pl.diff()
		ev := &SteerEvent{Dst: pl.dst, Interface: pl.effective}
		// Delete first: an IPv4 route that differs from a wanted one only
		// in its attributes would make the add fail with EEXIST.
		for _, r := range del {
			if err := s.routeOp(&r, false); err != nil {
				ev.Err = cmp.Or(ev.Err, err)
				continue
			}
			ev.Removed = append(ev.Removed, r)
			s.pending.deleted(r)
		}
		for _, r := range add {
			if err := s.routeOp(&r, true); err != nil {
				ev.Err = cmp.Or(ev.Err, err)
				continue
			}
			ev.Added = append(ev.Added, r)
			s.pending.added(r)
		}
		ev.Time = time.Now()
		firstErr = cmp.Or(firstErr, ev.Err)
		s.smu.Lock()
		prev, known := s.current[pl.dst]
		s.current[pl.dst] = pl.effective
		s.stats.RoutesAdded += uint64(len(ev.Added))
		s.stats.RoutesDeleted += uint64(len(ev.Removed))
		if ev.Err != nil {
			s.stats.Errors++
		}
		changed := known && prev.Index != pl.effective.Index
		if changed {
			s.stats.Steers++
		}
		s.smu.Unlock()
		ev.Previous = prev
		send := emit || changed
		switch {
		case changed:
			prevDown := healthReason(s.Health(prev.Index))
			if prevDown == netpulse.ReasonNone && flagged[prev.Index] {
				prevDown = netpulse.ReasonLinkDown
			}
			ev.Reason = eventReason(pl, prevDown)
		case len(ev.Added)+len(ev.Removed) > 0 || ev.Err != nil:
			ev.Reason = netpulse.ReasonReconciled
		default:
			send = false
		}
		if !send {
			ev = nil
		}
		s.record(guards[i], ev)
	}
	s.smu.Lock()
	s.guards = guards
	s.smu.Unlock()
	failure := firstErr
	if failure == nil && s.view.failing.Load() {
		failure = errors.New("route: view failing")
		if e := s.view.lastErr.Load(); e != nil {
			failure = *e
		}
		failure = wrapErr("view", failure)
	}
	s.setFailing(failure)
}

// pendingRoutes remembers the Steerer's own changes that its view has not
// shown yet, so that a reconciliation running before the notification
// arrives neither repeats nor misses them. Entries expire: a change the
// view never shows (the kernel flushed the route at once) is not trusted
// for long.
type pendingRoutes struct {
	add, del []pendingRoute
}

type pendingRoute struct {
	r  Route
	at time.Time
}

const pendingTTL = 2 * time.Second

func (p *pendingRoutes) added(r Route) {
	p.del = slices.DeleteFunc(p.del, func(x pendingRoute) bool { return overrideEqual(&x.r, &r) })
	p.add = append(p.add, pendingRoute{r, time.Now()})
}

func (p *pendingRoutes) deleted(r Route) {
	p.add = slices.DeleteFunc(p.add, func(x pendingRoute) bool { return overrideEqual(&x.r, &r) })
	p.del = append(p.del, pendingRoute{r, time.Now()})
}

// adjust corrects pl.have with the pending changes of pl's halves, and
// forgets the ones the view now shows or that expired.
func (p *pendingRoutes) adjust(pl *steerPlan, t *Table) {
	inView := func(r *Route) bool {
		return slices.ContainsFunc(t.RoutesTo(r.Dst), func(x Route) bool { return overrideEqual(&x, r) })
	}
	lo, hi, _ := halves(pl.dst)
	mine := func(r *Route) bool { return r.Dst == lo || r.Dst == hi }
	now := time.Now()
	p.add = slices.DeleteFunc(p.add, func(x pendingRoute) bool {
		if now.Sub(x.at) > pendingTTL || inView(&x.r) {
			return true
		}
		if mine(&x.r) && !slices.ContainsFunc(pl.have, func(h Route) bool { return overrideEqual(&h, &x.r) }) {
			pl.have = append(pl.have, x.r)
		}
		return false
	})
	p.del = slices.DeleteFunc(p.del, func(x pendingRoute) bool {
		if now.Sub(x.at) > pendingTTL || !inView(&x.r) {
			return true
		}
		if mine(&x.r) {
			pl.have = slices.DeleteFunc(pl.have, func(h Route) bool { return overrideEqual(&h, &x.r) })
		}
		return false
	})
}

// linkdownIndexes returns the interfaces without carrier.
func linkdownIndexes(t *Table) map[int]bool {
	m := map[int]bool{}
	for i, l := range t.links {
		if !l.Carrier || !l.Up {
			m[i] = true
		}
	}
	return m
}

// routeOp adds or deletes one route. Adding a route that exists and
// deleting one that is gone succeed: the view may lag behind the kernel.
func (s *Steerer) routeOp(r *Route, add bool) error {
	rm := encodeRoute(r)
	var err error
	if f := s.routeFault.Load(); f != nil {
		if err := (*f)(r, add); err != nil {
			return wrapErr("steer", err)
		}
	}
	if add {
		err = s.rt.Route.Add(rm)
		if errors.Is(err, unix.EEXIST) {
			err = nil
		}
	} else {
		rm.Scope = unix.RT_SCOPE_NOWHERE
		err = s.rt.Route.Delete(rm)
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			err = nil
		}
	}
	if err != nil {
		op := "add"
		if !add {
			op = "delete"
		}
		s.log.Warn("route: steering change failed", "op", op, "route", r.String(), "err", err)
		return wrapErr(op+" "+r.String(), err)
	}
	return nil
}

// ours returns every route of the Steerer's protocol in its table.
func (s *Steerer) ours() []Route {
	var rs []Route
	s.view.Read(s.cfg.Table, func(t *Table) {
		for _, r := range t.Routes() {
			if r.Protocol == s.cfg.protocol() {
				rs = append(rs, r)
			}
		}
	})
	return rs
}

func (s *Steerer) removeStale() {
	for _, r := range s.ours() {
		if err := s.routeOp(&r, false); err == nil {
			s.stats.StaleRemoved++
		} else {
			s.stats.Errors++
		}
	}
}

// restore deletes every route the Steerer installed and reports the
// guarded prefixes going back to the kernel's own choice.
func (s *Steerer) restore() error {
	var errs []error
	byDst := map[netip.Prefix][]Route{}
	for _, r := range s.ours() {
		if err := s.routeOp(&r, false); err != nil {
			errs = append(errs, err)
			continue
		}
		byDst[r.Dst] = append(byDst[r.Dst], r)
	}
	// The view may not have seen the last routes added: delete what the
	// plans want too.
	var plans []steerPlan
	s.view.Read(s.cfg.Table, func(t *Table) { plans = s.plans(t) })
	for _, pl := range plans {
		var removed []Route
		for _, r := range pl.want {
			if err := s.routeOp(&r, false); err != nil {
				errs = append(errs, err)
			}
		}
		lo, hi, _ := halves(pl.dst)
		removed = append(removed, byDst[lo]...)
		removed = append(removed, byDst[hi]...)
		if len(removed) == 0 && len(pl.want) == 0 {
			continue
		}
		ev := &SteerEvent{Time: time.Now(), Dst: pl.dst, Previous: pl.effective, Reason: netpulse.ReasonRestored, Removed: removed}
		if pl.natural != nil {
			ev.Interface = pl.natural.Interface()
		}
		s.emit(ev)
	}
	return errors.Join(errs...)
}

func (s *Steerer) families() []string {
	var fam []string
	for _, p := range s.cfg.Prefixes {
		if f := sysctlFamily(p.Addr()); !slices.Contains(fam, f) {
			fam = append(fam, f)
		}
	}
	return fam
}

// The Steerer leaves a mark in the kernel for each sysctl it changes: an
// unreachable default route of its protocol, with the interface index as
// metric, in table Markers.SysctlTable, which no rule looks up. A Steerer that
// starts after a crash finds the marks, puts the sysctls back and removes
// them, so a restart leaves the namespace as it was found.

// sysctlMark returns the mark of the sysctl of family f on interface index.
func (s *Steerer) sysctlMark(f string, index int) Route {
	dst := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if f == "ipv4" {
		dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return Route{Dst: dst, Table: s.cfg.Markers.SysctlTable, Metric: uint32(index), Protocol: s.cfg.protocol(), Type: TypeUnreachable}
}

// sysctlFamily returns the /proc/sys/net directory of a's family.
func sysctlFamily(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

func sysctlKey(f, name string) string {
	return "/proc/sys/net/" + f + "/conf/" + name + "/ignore_routes_with_linkdown"
}

// recoverSysctls undoes the sysctl changes of a Steerer of the same
// protocol that died without restoring them.
func (s *Steerer) recoverSysctls() {
	rms, err := s.rt.Route.List()
	if err != nil {
		s.log.Warn("route: list sysctl marks", "err", err)
		return
	}
	names := map[int]string{}
	for _, l := range s.view.Links() {
		names[l.Index] = l.Name
	}
	for i := range rms {
		r, ok := decodeRoute(&rms[i])
		if !ok || r.Table != s.cfg.Markers.SysctlTable || r.Protocol != s.cfg.protocol() || r.Type != TypeUnreachable {
			continue
		}
		if n, ok := names[int(r.Metric)]; ok {
			err := inNetNS(s.cfg.NetNS, func() error { return os.WriteFile(sysctlKey(sysctlFamily(r.Dst.Addr()), n), []byte("0"), 0) })
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("route: restore stale sysctl", "interface", n, "err", err)
				continue
			}
		}
		if err := s.routeOp(&r, false); err == nil {
			s.stats.StaleRemoved++
		}
	}
}

func (s *Steerer) setSysctls() error {
	type want struct {
		f     string
		name  string
		index int
	}
	var ws []want
	s.view.Read(0, func(t *Table) {
		for _, n := range s.cfg.Interfaces {
			l, ok := t.LinkByName(n)
			if !ok {
				continue // not there yet
			}
			for _, f := range s.families() {
				ws = append(ws, want{f, n, l.Index})
			}
		}
	})
	for _, w := range ws {
		key := sysctlKey(w.f, w.name)
		var old string
		err := inNetNS(s.cfg.NetNS, func() error {
			b, err := os.ReadFile(key)
			old = strings.TrimSpace(string(b))
			return err
		})
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrapErr("read sysctl", err)
		}
		if old != "0" {
			continue // already set (by an operator: not ours to undo)
		}
		mark := s.sysctlMark(w.f, w.index)
		if err := s.routeOp(&mark, true); err != nil {
			return err
		}
		s.sysctls = append(s.sysctls, sysctlValue{key: key, old: old, mark: mark})
		err = inNetNS(s.cfg.NetNS, func() error { return os.WriteFile(key, []byte("1"), 0) })
		if err != nil {
			return wrapErr("set sysctl", err)
		}
	}
	return nil
}

func (s *Steerer) restoreSysctls() {
	for _, v := range s.sysctls {
		err := inNetNS(s.cfg.NetNS, func() error { return os.WriteFile(v.key, []byte(v.old), 0) })
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("route: restore sysctl", "key", v.key, "err", err)
			continue // keep the mark: a later Steerer will retry
		}
		if err := s.routeOp(&v.mark, false); err != nil {
			s.log.Warn("route: remove sysctl mark", "err", err)
		}
	}
	s.sysctls = nil
}

// inNetNS runs fn in the namespace held by fd (0: here) on a locked OS
// thread that is thrown away afterwards, so no other goroutine ever runs
// in the wrong namespace.
func inNetNS(fd int, fn func() error) error {
	err := netns.Do(fd, fn)
	if ee, ok := err.(*netns.EnterError); ok {
		return wrapErr("enter namespace", fmt.Errorf("setns: %w", ee.Err))
	}
	return err
}

// checkPermission adds and deletes a route that carries no traffic (an
// unreachable route of the Steerer's protocol in Markers.SysctlTable, with a
// metric no mark uses): without CAP_NET_ADMIN in the namespace it fails
// with EPERM, an error wrapping os.ErrPermission.
func (s *Steerer) checkPermission() error {
	dst := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if s.cfg.Prefixes[0].Addr().Is4() {
		dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	probe := Route{Dst: dst, Table: s.cfg.Markers.SysctlTable, Metric: ^uint32(0), Protocol: s.cfg.protocol(), Type: TypeUnreachable}
	err := s.rt.Route.Add(encodeRoute(&probe))
	if err == nil || errors.Is(err, unix.EEXIST) {
		rm := encodeRoute(&probe)
		rm.Scope = unix.RT_SCOPE_NOWHERE
		err = s.rt.Route.Delete(rm)
	}
	if errors.Is(err, os.ErrPermission) {
		return wrapErr("steer", fmt.Errorf("changing routes needs CAP_NET_ADMIN in the namespace: %w", err))
	}
	if err != nil {
		return wrapErr("steer", fmt.Errorf("trial route change: %w", err))
	}
	return nil
}
