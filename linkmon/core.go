package linkmon

import (
	"bytes"
	"context"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/linkmon/internal/stream"
)

// core is the portable part of a Watcher: the table of watched links, the
// carrier filters, the delay scheduler and the subscribers. The kernel side
// feeds it decoded link messages through apply; it has no syscalls, so it is
// tested with injected messages in simulated time.
type core struct {
	cfg *config

	mu      sync.Mutex
	links   map[int]*entry
	upCount int // watched links reported up
	ctr     Counters
	nicIdx  []checkTarget // scratch for nicTargets

	st  *stream.Stream[*LinkEvent]
	evs []LinkEvent // the rest of the current block of events (see emit)

	// Hooks set by the kernel side before the core is used; each must not
	// block.
	onNIC     func()          // the set of NIC-like, up links became non-empty
	onEthtool func(index int) // detail of a link should be (re)read

	schedKick chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
}

type entry struct {
	st   State   // current state
	last State   // state last emitted (the next event's Previous)
	f    *filter // nil without delays and damping
}

func newCore(cfg *config) *core {
	c := &core{
		cfg:       cfg,
		links:     make(map[int]*entry),
		st:        stream.New(cfg.Buffer, eventLink, (*LinkEvent).Coalesce),
		onNIC:     func() {},
		onEthtool: func(int) {},
		schedKick: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	return c
}

// start runs the delay scheduler when delays or damping are configured:
// without them no timer exists at all.
func (c *core) start() {
	if c.cfg.UpDelay == 0 && c.cfg.DownDelay == 0 && c.cfg.Damping == nil {
		return
	}
	c.wg.Add(1)
	go c.schedule()
}

// stop stops the scheduler and closes every subscription.
func (c *core) stop() {
	close(c.done)
	c.wg.Wait()
	c.st.Close()
}

// eventLink is the fan-out key of a link event: its link's index.
func eventLink(e *LinkEvent) int { return e.State.Index }

// selected reports whether a link is watched.
func (c *core) selected(index int, name []byte) bool {
	if len(c.cfg.Interfaces) == 0 {
		return true
	}
	for _, s := range c.cfg.Interfaces {
		if s.Name != "" {
			if s.Name == string(name) {
				return true
			}
		} else if s.Index == index {
			return true
		}
	}
	return false
}

// apply merges one kernel message (a notification, a check reply or a dump
// entry: all full state) into the table and emits what changed.
func (c *core) apply(m *linkMsg, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyLocked(m, now)
}

func (c *core) applyLocked(m *linkMsg, now time.Time) {
	e := c.links[m.index]
	if m.deleted {
		if e != nil {
			c.remove(e, e.st.Name, now)
		}
		return
	}
	if !c.selected(m.index, m.name) {
		if e != nil { // renamed away from the selection
			c.remove(e, string(m.name), now)
		}
		return
	}
	if e == nil {
		e = &entry{st: State{Index: m.index, Present: true}}
		st := &e.st
		c.fill(st, m)
		st.KernelTransitions = 0
		e.f = newFilter(c.cfg, st.KernelCarrier && st.AdminUp, now)
		st.Carrier = st.KernelCarrier
		st.Changed = now
		c.links[m.index] = e
		c.commit(e, false, now)
		c.onEthtool(m.index)
		c.nicChanged(st)
		return
	}
	// The state is updated in place: State is large and this is the hot
	// path. Of the state before, only these are needed afterwards.
	kc, name, admin, nic, up := e.st.KernelCarrier, e.st.Name, e.st.AdminUp, e.st.NICLike, e.st.Carrier
	st := &e.st
	c.fill(st, m)
	c.refilter(e, st, now)
	c.commit(e, up, now)
	if st.KernelCarrier != kc || st.Name != name {
		c.onEthtool(m.index)
	}
	if st.AdminUp != admin || st.NICLike != nic {
		c.nicChanged(st)
	}
}

// fill copies the kernel's facts from m into st, allocating only for a name
// or address that changed.
func (c *core) fill(st *State, m *linkMsg) {
	if st.Name != string(m.name) {
		st.Name = string(m.name)
	}
	if !bytes.Equal(st.HardwareAddr, m.addr) {
		if len(m.addr) == 0 {
			st.HardwareAddr = nil
		} else {
			st.HardwareAddr = net.HardwareAddr(bytes.Clone(m.addr))
		}
	}
	st.MTU = m.mtu
	st.Oper = OperState(m.oper)
	st.AdminUp = m.flags&iffUp != 0
	kc := m.flags&iffLowerUp != 0
	if kc != st.KernelCarrier {
		st.KernelTransitions++
	}
	st.KernelCarrier = kc
	st.NICLike = m.nicLike()
}

// refilter derives the reported carrier from the kernel's. st is e.st,
// whose Carrier is still the one reported before.
func (c *core) refilter(e *entry, st *State, now time.Time) {
	if e.f == nil {
		st.Carrier = st.KernelCarrier
		return
	}
	otherUp := c.upCount-b2i(st.Carrier) > 0
	e.f.observe(now, st.KernelCarrier, st.AdminUp, otherUp)
	fromFilter(st, e.f, now)
	if !e.f.next().IsZero() { // a deadline: wake the scheduler
		select {
		case c.schedKick <- struct{}{}:
		default:
		}
	}
}

// fromFilter copies what the filter f reports into st.
func fromFilter(st *State, f *filter, now time.Time) {
	st.Carrier = f.reported()
	st.Damped = f.damped
	st.Suppressed = f.suppressed
	st.Penalty = f.penaltyNow(now)
}

// commit takes the link's state e.st, just updated in place from a state
// whose reported carrier was wasUp, counts its carrier change and emits an
// event when something visible changed since the link's last event.
func (c *core) commit(e *entry, wasUp bool, now time.Time) {
	st := &e.st
	if st.Carrier != wasUp {
		if st.Carrier {
			c.upCount++
			if e.last.Present { // not the link's first state
				st.Ups++
			}
		} else {
			c.upCount--
			st.Downs++
		}
	}
	if !visibleChange(&e.last, st) {
		return
	}
	st.Changed = now
	c.emit(e, now)
}

// emit publishes a link's change from its last event's state to its state
// e.st as one event that every subscriber shares, and records e.st as that
// last state.
// Events are carved out of blocks of eventBlock: one allocation per block,
// not per change. An event a subscriber keeps keeps its block alive (at
// most eventBlock events' memory), which is bounded and short-lived in
// the common case of a subscriber that handles events as they come. The
// states are copied straight into the event (no temporary): State is large
// and this is the hot path.
func (c *core) emit(e *entry, now time.Time) {
	if len(c.evs) == 0 {
		c.evs = make([]LinkEvent, eventBlock)
	}
	ev := &c.evs[0]
	c.evs = c.evs[1:]
	ev.Time = now
	ev.State = e.st
	ev.Previous = e.last
	ev.Seq = c.st.Next()
	e.last = e.st
	c.st.Publish(ev)
}

// eventBlock is how many events one allocation makes room for: 17 events
// (6120 bytes) fill the runtime's 6144-byte size class, where 16 would leave
// an event's room unused and so cost every event 6% more garbage
// (TestEventPathBytes).
const eventBlock = 17

// remove emits the disappearance of a watched link and forgets it.
func (c *core) remove(e *entry, name string, now time.Time) {
	if e.st.Carrier {
		c.upCount--
	}
	st := &e.st
	st.Name = name
	st.Present, st.Carrier, st.KernelCarrier, st.AdminUp, st.Damped = false, false, false, false, false
	st.Oper = OperStateNotPresent
	st.Changed = now
	delete(c.links, st.Index)
	c.emit(e, now)
}

// visibleChange reports whether an application should hear of the change
// from a to b. The kernel's own carrier and the counters are not events;
// the operstate is, unless a delay is hiding the carrier change it goes with.
func visibleChange(a, b *State) bool {
	// Detail.Read alone is no event: a link without ethtool support would
	// get one that says nothing.
	da, db := a.Detail, b.Detail
	da.Read, db.Read = false, false
	if a.Present != b.Present || a.Index != b.Index || a.Name != b.Name || a.AdminUp != b.AdminUp ||
		a.Carrier != b.Carrier || a.Damped != b.Damped || a.MTU != b.MTU || a.NICLike != b.NICLike ||
		da != db || !bytes.Equal(a.HardwareAddr, b.HardwareAddr) {
		return true
	}
	return a.Oper != b.Oper && b.Carrier == b.KernelCarrier
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *core) nicChanged(st *State) {
	if st.NICLike && st.AdminUp {
		c.onNIC()
	}
}

// checkTarget is a link the carrier check probes.
type checkTarget struct {
	index   int
	name    string
	carrier bool // the kernel carrier the table holds
}

// nicTargets returns the watched links the carrier check must probe:
// NIC-like and administratively up. The slice is reused.
func (c *core) nicTargets() []checkTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nicIdx = c.nicIdx[:0]
	for i, e := range c.links {
		if e.st.NICLike && e.st.AdminUp {
			c.nicIdx = append(c.nicIdx, checkTarget{i, e.st.Name, e.st.KernelCarrier})
		}
	}
	return c.nicIdx
}

// reconcile forgets the links a complete dump did not list (they were
// deleted while notifications were lost).
func (c *core) reconcile(seen map[int]bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.links {
		if !seen[i] {
			c.remove(e, e.st.Name, now)
		}
	}
}

// setDetail stores ethtool's view of a link.
func (c *core) setDetail(index int, name string, d Detail, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.links[index]
	if e == nil || e.st.Name != name {
		return
	}
	if d.LinkDetected == TristateNo && e.st.KernelCarrier {
		// A driver without a link query makes ethtool say "no link" while
		// the kernel has carrier: that is unknown, not down.
		d.LinkDetected = TristateUnknown
	}
	up := e.st.Carrier
	e.st.Detail = d
	c.commit(e, up, now)
}

// schedule applies delays and damping releases when they fall due.
func (c *core) schedule() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-c.done:
			t.Stop()
			return
		case <-c.schedKick:
		case <-t.C:
		}
		now := time.Now()
		var next time.Time
		c.mu.Lock()
		// Two passes: a link reported down in the first may release another
		// link's up-delay (no link up any more).
		for range 2 {
			for _, e := range c.links {
				if e.f == nil {
					continue
				}
				st := &e.st
				up := st.Carrier
				e.f.advance(now, c.upCount-b2i(up) > 0)
				fromFilter(st, e.f, now)
				c.commit(e, up, now)
			}
		}
		for _, e := range c.links {
			if e.f == nil {
				continue
			}
			if n := e.f.next(); !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		c.mu.Unlock()
		t.Stop()
		if !next.IsZero() {
			t.Reset(max(next.Sub(now), 0))
		}
	}
}

// subscribe registers a subscriber and queues the current table for it.
func (c *core) subscribe(ctx context.Context) <-chan netpulse.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.Sorted(maps.Keys(c.links))
	initial := make([]*LinkEvent, len(keys))
	for n, i := range keys {
		l := c.links[i].last
		initial[n] = &LinkEvent{State: l, Initial: true, Seq: c.st.Seq(), Time: l.Changed}
	}
	return c.st.Subscribe(ctx, initial)
}

// snapshot copies the table.
func (c *core) snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{Time: time.Now(), Links: make([]State, 0, len(c.links)), Counters: c.ctr, Condition: c.st.Condition()}
	for _, e := range c.links {
		s.Links = append(s.Links, e.st)
	}
	slices.SortFunc(s.Links, func(a, b State) int { return a.Index - b.Index })
	s.Counters.Events = c.st.Events()
	s.Counters.Coalesced = c.st.Coalesced()
	s.Counters.EventsDropped = c.st.Dropped()
	return s
}

// count updates counters under the lock.
func (c *core) count(f func(*Counters)) {
	c.mu.Lock()
	f(&c.ctr)
	c.mu.Unlock()
}

// setCondition records a fatal error (err != nil) or a recovery, and emits
// it as a condition event: a watcher stuck reopening its sockets is visible
// on the stream, without polling Snapshot (#12.8).
func (c *core) setCondition(err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.SetCondition(err, now)
}

// applyCheck applies a carrier check's reply and reports whether it changed
// the kernel carrier the table held (the check was ahead of the
// notification).
func (c *core) applyCheck(m *linkMsg, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	if e := c.links[m.index]; e != nil {
		changed = e.st.KernelCarrier != (m.flags&iffLowerUp != 0)
	}
	c.applyLocked(m, now)
	return changed
}

// name returns the name of a watched link.
func (c *core) name(index int) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.links[index]
	if e == nil {
		return "", false
	}
	return e.st.Name, true
}

// checkInterval is the period of the carrier check for n links: a defaulted
// interval is stretched to keep maxAutoChecks checks a second.
func checkInterval(base time.Duration, auto bool, n int) time.Duration {
	if !auto || n <= 0 {
		return base
	}
	return max(base, time.Second*time.Duration(n)/maxAutoChecks)
}
