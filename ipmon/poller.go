package ipmon

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
	"github.com/netpulse/netpulse/ipmon/internal/core"
)

func init() {
	core.NewHub = newHub
	core.Targets = func(c *Config) (func(Target) (Target, error), func(Target) (Target, error), func(string) VerdictRule, error) {
		cfg, err := c.withDefaults()
		if err != nil {
			return nil, nil, nil, err
		}
		return func(t Target) (Target, error) { return t.normalize(&cfg) }, identity, cfg.rule, nil
	}
}

// newHub returns the event hub of a Poller (and of the ipmontest fake):
// unbuffered subscriptions whose waiting events of one target (or one
// interface's verdict, or the condition) are folded into the latest, and
// whose drops past the queue's cap are told by a *netpulse.DropEvent.
func newHub() *core.Hub {
	return fanout.New(0, eventKey, foldEvents, fanout.DropEvents())
}

// eventKey says what ev is about.
func eventKey(ev netpulse.Event) core.EventKey {
	switch e := ev.(type) {
	case *TargetEvent:
		return core.EventKey{What: core.AboutTarget, Of: e.Target.key().core()}
	case *VerdictEvent:
		return core.EventKey{What: core.AboutVerdict, Of: core.Key{Iface: e.Interface.Name}}
	}
	return core.EventKey{What: core.AboutCondition}
}

// foldEvents returns the one event a subscriber that fell behind receives
// in place of old followed by newer, an event about the same thing:
// newer's state with old's previous state, Coalesced counting the events
// folded in. ok is false when both must be delivered: a removal is never
// folded away, so a subscriber still sees it when the target is added
// again. Events are never modified once published: the result is a copy.
func foldEvents(old, newer netpulse.Event) (netpulse.Event, bool) {
	switch o := old.(type) {
	case *TargetEvent:
		if o.Removed {
			return old, false
		}
		n := *newer.(*TargetEvent)
		n.Coalesced, n.Previous, n.Initial = o.Coalesced+1, o.Previous, o.Initial && n.Initial
		return &n, true
	case *VerdictEvent:
		n := *newer.(*VerdictEvent)
		n.Coalesced, n.Previous, n.Initial = o.Coalesced+1, o.Previous, o.Initial && n.Initial
		return &n, true
	case *netpulse.ConditionEvent:
		n := *newer.(*netpulse.ConditionEvent)
		n.Previous = o.Previous
		return &n, true
	}
	return old, false
}

// transport is the kernel side of a Poller: sockets, interface lookups.
// The Linux implementation uses ICMP sockets; tests use a fake. Methods
// other than attach and detach are called with Poller.mu held.
type transport interface {
	// mode returns the socket mode in use.
	mode() Mode
	// echoID returns the ICMP echo ID of the family's socket. It never
	// changes after Open and is also called without Poller.mu.
	echoID(v6 bool) uint16
	// attach checks t against the kernel (interface exists, not a local
	// address, source is local) and prepares its sending state. It is
	// called without Poller.mu.
	attach(t *target) error
	// detach releases what attach acquired. Called with Poller.mu held.
	detach(t *target)
	// send sends the len(pkt) bytes for t, or queues them until flush
	// (pkt must then stay untouched until flush). Called with Poller.mu
	// held.
	send(t *target, pkt []byte) error
	// flush sends what send queued, reports each send the kernel refused
	// to Poller.sendFailed and returns how many there were. Called with
	// Poller.mu held.
	flush() int
	// start hands the transport its Poller (for deliveries).
	start(p *Poller)
	// wait blocks until a reply may be waiting, kick is called, or d
	// passes. Called by the scheduler goroutine only.
	wait(d time.Duration)
	// drain reads every reply waiting, without blocking, and hands them to
	// Poller.deliverBatch. Called by the scheduler goroutine only, without
	// Poller.mu.
	drain()
	// kick makes a wait return at once. Safe from any goroutine.
	kick()
	// close closes every socket, after the scheduler stopped, and stops
	// any goroutine of the transport.
	close() error
	// index returns the index of the interface named name in the
	// transport's namespace as it knows it now, 0 if there is none. Called
	// with or without Poller.mu.
	index(name string) int
}

// target is a tracker plus what the scheduler and the transport need.
type target struct {
	*tracker
	slot, gen uint32
	ifindex   int
	heapIdx   int
	due       time.Time
	pkt       [echoLen]byte
	tx        txState // transport's per-target data (sockaddr, control msg)

	// src is the source address the probes take (chosen by attach, kept
	// current by refresh); hold why the target is not probed for now.
	src  netip.Addr
	hold Hold
	bfd  *bfdTarget // the session of a BFD target, else nil
}

// rxPacket is a received packet handed to Poller.deliver by the transport.
type rxPacket struct {
	v6      bool
	kind    ProbeKind
	src     netip.Addr // zone-less
	ifindex int        // ingress interface, 0 if unknown
	rxWall  int64      // kernel receive timestamp (ns, wall clock), 0 if none
	data    []byte     // ICMP message (IP header stripped)
	arp     arpFields  // for kind ARPProbe
	// malformed: the receiver could not decode the packet (truncated, bad
	// IP header).
	malformed bool
	// overflow is the socket's count of packets the kernel dropped for a
	// full receive buffer (SO_RXQ_OVFL), 0 if none so far.
	overflow uint32
	// why and f: precheck's outcome and the echo fields it decoded.
	why dropReason
	f   echoFields
}

// Poller probes targets and reports their states. Its methods are safe for
// concurrent use.
type Poller struct {
	cfg Config
	tr  transport
	log *slog.Logger
	key probeKey   // authenticates each probe (mac.go)
	rx  rxCounters // receive-path counters kept without mu (rx.go)

	mu        sync.Mutex
	closed    bool
	targets   map[key]*target
	slots     []*target // by slot number; nil = free
	freeSlots []uint32
	gens      []uint32 // generation last used per slot
	heap      targetHeap
	ifaces    map[string]*ifaceState
	diags     map[string]string // per interface

	sent, sendErrors, received, overruns, rebinds uint64
	localSendErrors                               uint64
	drops                                         Drops
	cond                                          netpulse.Condition
	condFaults                                    uint64
	bfd                                           bfdTable

	hub     *core.Hub // Close waits for the subscription goroutines
	done    chan struct{}
	schedWG sync.WaitGroup // the scheduler

	closeOnce sync.Once
	closeErr  error
}

type ifaceState struct {
	name       string
	rule       VerdictRule
	verdict    netpulse.Verdict
	lastChange time.Time
	targets    map[key]*target
	n          [4]int // targets by state, kept as states change
}

// Open opens the sockets and starts a Poller with no targets, in the
// namespace cfg.NetNS names. cfg may be nil: all defaults. ctx bounds the
// setup (the first dumps, the privilege checks); cancelling it later has no
// effect: Close ends the Poller.
//
// It returns an error satisfying errors.Is(err, os.ErrInvalid) for an
// invalid cfg (see Config.Validate); when no ICMP socket can be opened,
// one that satisfies errors.Is(err, os.ErrPermission) and names what is
// missing (CAP_NET_RAW for raw sockets, the group in
// net.ipv4.ping_group_range for unprivileged ones); and one wrapping
// errors.ErrUnsupported on systems other than Linux.
func Open(ctx context.Context, cfg *Config) (*Poller, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return open(ctx, c)
}

// Discover proposes first-hop targets for iface from the routing table of
// the namespace held by the netns file descriptor (0: the caller's): the
// gateways of the routes through iface, IPv4 then IPv6, those of default
// routes first, without duplicates. Nothing is probed; the caller decides
// whether to use them. It returns an error wrapping ErrUnknownInterface if
// iface does not exist, and one wrapping errors.ErrUnsupported on systems
// other than Linux.
func Discover(ctx context.Context, netns int, iface string) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return discover(ctx, netns, iface)
}

// newPoller builds a Poller over tr and starts its goroutines.
func newPoller(cfg Config, tr transport) (*Poller, error) {
	p := &Poller{
		cfg:     cfg,
		tr:      tr,
		log:     cfg.Logger,
		targets: make(map[key]*target),
		ifaces:  make(map[string]*ifaceState),
		diags:   make(map[string]string),
		done:    make(chan struct{}),
		cond:    netpulse.Condition{OK: true},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("ipmon: random probe key: %w", err)
	}
	p.key = newProbeKey(k)
	p.hub = newHub()
	tr.start(p)
	p.schedWG.Add(1)
	go p.run()
	return p, nil
}

// Add starts probing t. Zero timing fields take the Config's defaults. The
// interface is resolved to its index here; while it is deleted its targets
// miss (their sends fail), and when an interface of the same name appears
// again (a new index) the Poller moves its targets to it by itself, as soon
// as their source address (if set) is on it (Snapshot.Rebinds counts
// them). An interface renamed keeps its targets, still probed through it,
// until an interface of their name appears. Add sees every link and
// address change made before it is called. A target whose interface has
// no address to probe from is added held (HoldNoSource), and one whose
// address becomes local later is held (HoldLocal); see Hold.
// It returns an error wrapping ErrInvalidTarget (malformed target, multicast,
// broadcast, unspecified, wrong family), ErrLocalAddress (an address of
// this host), ErrUnknownInterface, ErrExists or net.ErrClosed.
func (p *Poller) Add(t Target) error {
	t, err := t.normalize(&p.cfg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errClosed
	}
	if _, ok := p.targets[t.key()]; ok {
		p.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrExists, t)
	}
	p.mu.Unlock()

	if s, ok := p.tr.(syncer); ok {
		if err := s.sync(); err != nil {
			return err
		}
	}
	tg := &target{tracker: newTracker(t, p.cfg.LossWindow, time.Now()), heapIdx: -1}
	if err := p.tr.attach(tg); err != nil {
		return err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.targets[t.key()] != nil {
		p.tr.detach(tg)
		if p.closed {
			return errClosed
		}
		return fmt.Errorf("%w: %v", ErrExists, t)
	}
	p.allocSlot(tg)
	p.targets[t.key()] = tg
	now := time.Now()
	tg.spreadNextSend(now)
	tg.due = tg.nextSend
	if t.Kind == ProbeBFD {
		p.addBFD(tg, now)
	}
	if tg.hold == HoldNone {
		p.heap.push(tg)
	}
	is := p.ifaces[t.Interface]
	if is == nil {
		is = &ifaceState{name: t.Interface, rule: p.cfg.rule(t.Interface), lastChange: now, targets: make(map[key]*target)}
		p.ifaces[t.Interface] = is
	}
	is.targets[t.key()] = tg
	is.n[TargetUnknown]++
	p.hub.Publish(p.targetEvent(tg, TargetUnknown, now))
	p.reverdict(is, now)
	p.kick()
	return nil
}

// Remove stops probing the target identified by t's Interface, Addr and Kind
// (other fields are ignored). Subscribers get an event with Removed set. It
// returns an error wrapping ErrNotFound or net.ErrClosed.
func (p *Poller) Remove(t Target) error {
	t, err := identity(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	tg := p.targets[t.key()]
	if tg == nil {
		return fmt.Errorf("%w: %v", ErrNotFound, t)
	}
	now := time.Now()
	delete(p.targets, t.key())
	p.heap.remove(tg)
	if tg.bfd != nil {
		p.adminDownBFD(tg)
	}
	p.tr.detach(tg)
	p.freeSlot(tg)
	prev := tg.state
	tg.state = TargetUnknown
	ev := p.targetEvent(tg, prev, now)
	ev.Removed = true
	p.hub.Publish(ev)
	is := p.ifaces[t.Interface]
	delete(is.targets, t.key())
	is.n[prev]--
	p.reverdict(is, now)
	if len(is.targets) == 0 {
		delete(p.ifaces, t.Interface)
		p.forgetDiags(t.Interface)
	}
	return nil
}

// Update re-tunes a target identified by t's Interface, Addr and Kind: its
// Interval, Timeout, FailAfter, RecoverAfter and Source. Its state and
// statistics are kept; if Interval or Timeout change, replies to probes in
// flight count as late. It returns an error wrapping ErrNotFound,
// ErrInvalidTarget, ErrLocalAddress or net.ErrClosed.
func (p *Poller) Update(t Target) error {
	t, err := t.normalize(&p.cfg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errClosed
	}
	old := p.targets[t.key()]
	p.mu.Unlock()
	if old == nil {
		return fmt.Errorf("%w: %v", ErrNotFound, t)
	}
	if s, ok := p.tr.(syncer); ok {
		if err := s.sync(); err != nil {
			return err
		}
	}
	probe, err := p.prepareTx(t)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.targets[t.key()] != old {
		p.tr.detach(probe)
		if p.closed {
			return errClosed
		}
		return fmt.Errorf("%w: %v", ErrNotFound, t)
	}
	retimed := old.t.Interval != t.Interval || old.t.Timeout != t.Timeout
	old.retune(t)
	p.swapTx(old, probe)
	if old.bfd != nil {
		p.updateBFD(old, time.Now())
		return nil
	}
	if retimed && old.hold == HoldNone {
		p.gens[old.slot]++
		old.gen = p.gens[old.slot]
		now := time.Now()
		old.spreadNextSend(now)
		old.due = old.deadline()
		p.heap.fix(old)
		p.kick()
	}
	return nil
}

// identity checks only the identifying fields of t.
func identity(t Target) (Target, error) {
	n := Target{Addr: t.Addr, Interface: t.Interface, Kind: t.Kind}
	n, err := n.normalize(&Config{Interval: DefaultInterval, Timeout: DefaultInterval, FailAfter: 1, RecoverAfter: 1})
	if err != nil {
		return t, err
	}
	return n, nil
}

// spreadNextSend schedules tg's next probe at a random point within its
// interval from now: no burst when many targets are added, re-tuned or
// resumed at once.
func (tg *target) spreadNextSend(now time.Time) {
	tg.nextSend = now.Add(time.Duration(mrand.Int64N(int64(tg.t.Interval))))
}

func (p *Poller) allocSlot(tg *target) {
	var s uint32
	if n := len(p.freeSlots); n > 0 {
		s = p.freeSlots[n-1]
		p.freeSlots = p.freeSlots[:n-1]
	} else {
		s = uint32(len(p.slots))
		p.slots = append(p.slots, nil)
		var g [4]byte
		_, _ = rand.Read(g[:])
		p.gens = append(p.gens, binary.BigEndian.Uint32(g[:]))
	}
	p.gens[s]++
	tg.slot, tg.gen = s, p.gens[s]
	p.slots[s] = tg
}

func (p *Poller) freeSlot(tg *target) {
	p.slots[tg.slot] = nil
	p.freeSlots = append(p.freeSlots, tg.slot)
}

func (p *Poller) kick() { p.tr.kick() }

// prepareTx resolves t's interface and prepares its sending state apart
// from any live target, without Poller.mu; swapTx puts it in place.
func (p *Poller) prepareTx(t Target) (*target, error) {
	probe := &target{tracker: &tracker{t: t}, heapIdx: -1}
	if err := p.tr.attach(probe); err != nil {
		return nil, err
	}
	return probe, nil
}

// swapTx gives tg the sending state prepared in probe and releases tg's
// old one. Called with Poller.mu held.
func (p *Poller) swapTx(tg, probe *target) {
	p.tr.detach(tg)
	tg.tx, tg.ifindex, tg.src = probe.tx, probe.ifindex, probe.src
	p.setHold(tg, probe.hold, time.Now())
}

// rebind moves the targets of iface to the interface index index, if they
// are bound to another one: the interface was deleted and created again
// under the same name. Called by the transport when it sees a link or an
// address appear, without Poller.mu. Only the sending state is swapped: a
// target the application changed or removed meanwhile is left alone. A
// target that cannot be moved yet (its source address is not there yet,
// the interface vanished again) is tried again at the next link or address
// notification.
func (p *Poller) rebind(iface string, index int) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var stale []*target
	var ts []Target
	if is := p.ifaces[iface]; is != nil {
		for _, tg := range is.targets {
			if tg.ifindex != index {
				stale = append(stale, tg)
				ts = append(ts, tg.t)
			}
		}
	}
	p.mu.Unlock()
	moved, failed := 0, 0
	var lastErr error
	for i, tg := range stale {
		probe, err := p.prepareTx(ts[i])
		if err != nil {
			failed++
			lastErr = err
			continue
		}
		p.mu.Lock()
		if p.closed || p.targets[ts[i].key()] != tg || tg.t != ts[i] {
			// Removed or updated by the application meanwhile.
			p.tr.detach(probe)
			p.mu.Unlock()
			continue
		}
		p.swapTx(tg, probe)
		p.rebinds++
		p.mu.Unlock()
		moved++
	}
	if moved > 0 {
		p.log.Info("ipmon: targets moved to the recreated interface", "interface", iface, "index", index, "targets", moved)
	}
	if failed > 0 {
		p.log.Info("ipmon: targets not yet moved to the recreated interface", "interface", iface, "index", index, "targets", failed, "err", lastErr)
	}
}

// maxBatch bounds the probes handled per hold of the lock, so that the
// receive path is never starved.
const maxBatch = 256

// run is the scheduler and, for echo, the receiver: one goroutine, a heap
// of targets keyed by their next deadline (send or timeout). It sends what
// is due, reads the replies waiting (on a veth or a fast link, the replies
// to a batch are often queued before the batch is done), and sleeps in the
// transport's wait until the next deadline or a reply. Doing both in one
// goroutine saves a goroutine wake-up (and a thread hand-off) per batch of
// replies.
func (p *Poller) run() {
	defer p.schedWG.Done()
	for {
		// Read what arrived before judging deadlines: after a stall (a
		// loaded machine) a packet that came in before a BFD detection
		// time expired must count before that expiry is decided.
		p.tr.drain()
		p.mu.Lock()
		wait := p.fire(time.Now())
		p.mu.Unlock()
		select {
		case <-p.done:
			return
		default:
		}
		if wait == 0 {
			// More due work: let others take the lock, then go on.
			runtime.Gosched()
			continue
		}
		p.tr.wait(wait)
	}
}

// sendSlack is how early a send may go so that sends due within it share
// one wake-up: an eighth of the target's interval, at most 10 ms. Sending a
// little early never lengthens detection (a probe's timeout runs from when
// it left); timeouts never fire early.
const sendSlack = 10 * time.Millisecond

// fire handles due targets and returns how long to sleep (0: more due).
func (p *Poller) fire(now time.Time) time.Duration {
	d := p.fireDue(now)
	p.tr.flush() // failures go to sendFailed
	return d
}

func (p *Poller) fireDue(now time.Time) time.Duration {
	horizon := now.Add(sendSlack)
	for i := 0; i < maxBatch; i++ {
		if len(p.heap) == 0 {
			return time.Hour
		}
		tg := p.heap[0]
		if tg.due.After(horizon) {
			return tg.due.Sub(now)
		}
		if tg.bfd != nil {
			if wait := p.fireBFD(tg, now); wait > 0 {
				return wait
			}
			continue
		}
		if changed, prev := tg.expire(now); changed {
			p.changed(tg, prev, now)
		}
		sent := false
		if !tg.nextSend.After(now.Add(min(sendSlack, tg.t.Interval/8))) {
			p.sendProbe(tg, now)
			sent = true
			tg.nextSend = tg.nextSend.Add(tg.t.Interval)
			if !now.Before(tg.nextSend) {
				// More than an interval behind: do not send a burst to
				// catch up.
				p.overruns++
				tg.nextSend = now.Add(tg.t.Interval)
			}
		}
		tg.due = tg.deadline()
		p.heap.fix(tg)
		if !sent && tg.due.After(now) {
			// A timeout a little ahead: sleep until it, exactly.
			return tg.due.Sub(now)
		}
	}
	return 0
}

func (p *Poller) sendProbe(tg *target, now time.Time) {
	n := tg.sendSlot(now, now.UnixNano())
	if tg.t.Kind != ProbeARP {
		buildEcho(tg.pkt[:], tg.t.Addr.Is6(), p.tr.echoID(tg.t.Addr.Is6()), &p.key,
			echoFields{slot: tg.slot, gen: tg.gen, prob: n})
	}
	p.sent++
	if err := p.tr.send(tg, tg.pkt[:]); err != nil {
		p.sendFailed(tg, n, err)
	}
}

// deliver handles one received packet, as deliverBatch does. Called by
// the transport's receive goroutines, without Poller.mu.
func (p *Poller) deliver(pk *rxPacket) {
	if !p.precheck(pk) {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.deliverLocked(pk, now)
}

// deliverBatch handles received packets: each is decoded and its
// authenticator checked first, without the lock (a forged packet never
// takes what the scheduler needs); those that pass are handled under one
// hold of the lock.
func (p *Poller) deliverBatch(pks []rxPacket) {
	now := time.Now()
	good := 0
	for i := range pks {
		if p.precheck(&pks[i]) {
			good++
		}
	}
	if good == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for i := range pks {
		if pks[i].why == dropNone {
			p.deliverLocked(&pks[i], now)
		}
	}
}

// deliverLocked matches a packet that passed precheck to its target and
// probe.
func (p *Poller) deliverLocked(pk *rxPacket, now time.Time) {
	var tg *target
	var n uint32
	if pk.kind == ProbeARP {
		tg, n = p.matchARP(pk)
		if tg == nil {
			return
		}
	} else {
		f := &pk.f
		if int(f.slot) >= len(p.slots) {
			p.drops.Spoofed++
			return
		}
		tg = p.slots[f.slot]
		if tg == nil || tg.gen != f.gen {
			if f.gen <= p.gens[f.slot] && p.gens[f.slot]-f.gen < 1<<16 {
				// A target removed or re-tuned since the probe left.
				p.drops.Late++
			} else {
				p.drops.Spoofed++
			}
			return
		}
		if tg.t.Kind == ProbeARP || tg.t.Addr.Is6() != pk.v6 || tg.t.Addr != pk.src {
			p.drops.Spoofed++
			return
		}
		n = f.prob
	}
	if pk.ifindex != 0 && pk.ifindex != tg.ifindex {
		if p.cfg.StrictIngress {
			p.drops.WrongInterface++
			return
		}
	}
	var krtt time.Duration
	if pk.rxWall != 0 {
		if w := tg.sentWall(n); w != 0 {
			krtt = time.Duration(pk.rxWall - w)
		}
	}
	prev := tg.state
	res, changed := tg.reply(n, now, krtt)
	switch res {
	case replyAccepted:
		p.received++
		if pk.ifindex != 0 && pk.ifindex != tg.ifindex {
			tg.otherIngress++
			p.noteOtherIngress(tg, pk.ifindex)
		}
		if changed {
			p.changed(tg, prev, now)
		}
	case replyLate:
		p.drops.Late++
	case replyDuplicate:
		p.drops.Duplicate++
	case replyNeverSent:
		p.drops.Spoofed++
	}
}

// changed publishes a target's state change and re-decides its interface.
func (p *Poller) changed(tg *target, prev TargetState, now time.Time) {
	p.hub.Publish(p.targetEvent(tg, prev, now))
	if is := p.ifaces[tg.t.Interface]; is != nil {
		is.n[prev]--
		is.n[tg.state]++
		p.reverdict(is, now)
	}
}

func (p *Poller) targetEvent(tg *target, prev TargetState, now time.Time) *TargetEvent {
	return &TargetEvent{
		Time:      now,
		Interface: p.iface(tg.t.Interface),
		Target:    tg.t,
		State:     tg.state,
		Previous:  prev,
		RTT:       tg.lastRTT,
		Misses:    tg.misses,
		Replies:   tg.replies,
		Hold:      tg.hold,
		BFD:       tg.bfdStatus(),
	}
}

// Decide returns the verdict of an interface whose targets are up, down,
// unverified and unknown in number (by TargetState): alive if the rule is
// met; if it cannot be met even if every unknown target comes up, dead
// when at least one target is down (it answered, then stopped), else
// unverified (only targets that never answered fail it: no evidence);
// unknown otherwise, also with no targets.
func (r VerdictRule) Decide(up, down, unverified, unknown int) netpulse.Verdict {
	total := up + down + unverified + unknown
	if total == 0 {
		return netpulse.VerdictUnknown
	}
	need := r.required(total)
	switch {
	case up >= need:
		return netpulse.VerdictAlive
	case up+unknown < need && down > 0:
		return netpulse.VerdictDead
	case up+unknown < need:
		return netpulse.VerdictUnverified
	}
	return netpulse.VerdictUnknown
}

func (is *ifaceState) counts() (up, down, unverified, unknown int) {
	return is.n[TargetUp], is.n[TargetDown], is.n[TargetUnverified], is.n[TargetUnknown]
}

func (p *Poller) reverdict(is *ifaceState, now time.Time) {
	v := is.rule.Decide(is.counts())
	if v == is.verdict {
		return
	}
	prev := is.verdict
	is.verdict, is.lastChange = v, now
	p.hub.Publish(p.verdictEvent(is, prev, now))
}

// iface names the interface name as events and snapshots do: with its
// index in the Poller's namespace now (0 if there is none).
func (p *Poller) iface(name string) netpulse.Interface {
	return netpulse.Interface{Index: p.tr.index(name), Name: name}
}

func (p *Poller) verdictEvent(is *ifaceState, prev netpulse.Verdict, now time.Time) *VerdictEvent {
	ev := &VerdictEvent{
		Time:      now,
		Interface: p.iface(is.name),
		Verdict:   is.verdict,
		Previous:  prev,
		Rule:      is.rule,
		Evidence:  make([]TargetEvidence, 0, len(is.targets)),
	}
	for _, tg := range is.targets {
		ev.Evidence = append(ev.Evidence, TargetEvidence{Addr: tg.t.Addr, Kind: tg.t.Kind, State: tg.state})
	}
	slices.SortFunc(ev.Evidence, CompareTargetEvidence)
	return ev
}

// diagnose records a configuration problem for an interface (once) and
// logs it.
func (p *Poller) diagnose(iface, msg string) { p.diagnoseAs(iface, iface, msg) }

// diagnoseAs is diagnose under the diagnostics key k (see diagKey).
func (p *Poller) diagnoseAs(k, iface, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.diags[k] == msg {
		return
	}
	p.diags[k] = msg
	p.log.Warn(msg, "interface", iface)
}

// Subscribe returns a channel of events: first the current state of every
// target (a *TargetEvent each) and interface (a *VerdictEvent each), with
// Initial set, and a *netpulse.ConditionEvent if the Poller's condition is
// not OK; then every change. It sends exactly four types:
//
//   - *TargetEvent: a target's new state (added, changed, held, removed);
//   - *VerdictEvent: an interface's new verdict over its targets;
//   - *netpulse.ConditionEvent: the Poller's own condition changed (it
//     stopped or resumed following the namespace's links and addresses;
//     Reason is netpulse.ReasonFailing or netpulse.ReasonWorking);
//   - *netpulse.DropEvent: this subscriber fell behind its queue's cap and
//     Count events were dropped; it comes just before the next event.
//
// A subscriber that falls behind blocks nobody: the changes of one target
// (or one interface's verdict) not yet delivered are folded into its
// latest state (Coalesced counts them), which is never lost; a removal is
// never folded away (each Remove queues one event until it is read). Its
// queue is capped (16384 events, or twice the initial events if more;
// Snapshot.EventsDropped). The channel is closed when ctx is done or the
// Poller is closed.
func (p *Poller) Subscribe(ctx context.Context) <-chan netpulse.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var initial []netpulse.Event
	if !p.closed {
		for _, tg := range p.sortedTargets() {
			ev := p.targetEvent(tg, tg.state, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
		for _, name := range p.sortedIfaces() {
			is := p.ifaces[name]
			ev := p.verdictEvent(is, is.verdict, now)
			ev.Initial = true
			initial = append(initial, ev)
		}
		if !p.cond.OK {
			initial = append(initial, &netpulse.ConditionEvent{Time: now, Condition: p.cond, Previous: p.cond, Reason: netpulse.ReasonFailing})
		}
	}
	return p.hub.Subscribe(ctx, initial)
}

func (p *Poller) sortedTargets() []*target {
	return slices.SortedFunc(maps.Values(p.targets), func(a, b *target) int { return a.t.key().core().Compare(b.t.key().core()) })
}

func (p *Poller) sortedIfaces() []string { return slices.Sorted(maps.Keys(p.ifaces)) }

// Snapshot returns the current state and statistics of every target and
// interface, and the Poller's counters.
func (p *Poller) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Time:            time.Now(),
		EventsDropped:   p.hub.Dropped(),
		Mode:            p.tr.mode(),
		StrictIngress:   p.cfg.StrictIngress,
		Sent:            p.sent,
		SendErrors:      p.sendErrors,
		LocalSendErrors: p.localSendErrors,
		Received:        p.received,
		Overruns:        p.overruns,
		Rebinds:         p.rebinds,
		Drops:           p.rx.add(p.drops),
		Condition:       p.cond,
		ConditionFaults: p.condFaults,
	}
	for _, tg := range p.sortedTargets() {
		ts := tg.stats()
		ts.Hold = tg.hold
		if tg.hold == HoldNone {
			ts.Source = tg.src
		}
		ts.BFD = tg.bfdStatus()
		s.Targets = append(s.Targets, ts)
	}
	s.BFD = p.bfd.n
	for _, name := range p.sortedIfaces() {
		is := p.ifaces[name]
		up, down, unv, unk := is.counts()
		s.Interfaces = append(s.Interfaces, VerdictStatus{
			Interface: p.iface(name), Verdict: is.verdict, Rule: is.rule, LastChange: is.lastChange,
			Targets: len(is.targets), Up: up, Down: down, Unverified: unv, Unknown: unk,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(p.diags)) {
		s.Diagnostics = append(s.Diagnostics, p.diags[name])
	}
	return s
}

// Close stops probing, closes every socket and every subscription channel,
// and returns once every goroutine the Poller started has stopped. It is
// idempotent.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.done)
		// Stop the scheduler before the sockets it uses are closed.
		p.tr.kick()
		p.schedWG.Wait()
		p.closeBFD()
		// The transport's goroutines (ARP) call deliver, which takes mu:
		// close it without holding mu.
		p.closeErr = p.tr.close()
		p.hub.Close()
	})
	return p.closeErr
}
