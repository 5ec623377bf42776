// Package health turns link and IP evidence into the health of each
// interface, with one meaning of dead, and feeds it to the components that
// act on it (route.Steerer, failover.Engine: netpulse.Observers).
//
// A Monitor subscribes to a link source (a *linkmon.Watcher) and an IP
// source (an *ipmon.Poller), either of which may be absent, and keeps one
// netpulse.Evidence per interface. Interfaces are keyed by name, which is
// authoritative: the index comes from the link source (from the IP source
// when there is none) and follows re-creation and renames; a link renamed
// away from a name leaves that name gone (Index 0, link down); a link that
// takes the name later is that interface, with the name's last verdict.
// Only a target that answered and stopped makes a path dead: a target that
// never answered is unverified, which is no evidence either way.
//
// Wiring health into the actors is one line each:
//
//	mon, err := health.New(ctx, &health.Config{Links: watcher, Probes: poller})
//	...
//	mon.Feed(ctx, steerer)
//	mon.Feed(ctx, engine)
//
// # Subscribers and Observers
//
// Subscribe returns a channel that first delivers the current evidence of
// every interface, then every change, each event with the full evidence of
// one interface; Feed applies the same evidence to a netpulse.Observer until
// its ctx ends or the Monitor closes. A slow subscriber or Observer never
// blocks the Monitor or the others: the changes of an interface it has not
// taken yet fold into its latest evidence (EvidenceEvent.Coalesced counts
// them), so the latest evidence of every interface always reaches it, in
// order per interface. Its queue is capped: one that stops reading without
// cancelling loses the oldest events, superseded ones first, and a
// subscriber is told how many by a *netpulse.DropEvent before the next event
// it receives. The stream also carries the Monitor's own condition
// (*netpulse.ConditionEvent): not OK while a source reports it is not, or
// after a source ended its subscription.
package health

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/fanout"
)

// A LinkSource delivers link observations: *linkmon.Watcher and
// linkmontest's fake satisfy it. Subscribe's channel must start with the
// current state of every link and be closed when ctx ends. The Monitor reads
// its *linkmon.LinkEvent values and its *netpulse.ConditionEvent (the
// source's own condition); it ignores the rest (a *netpulse.DropEvent: the
// source dropped superseded states first, and the states that follow are
// full states).
type LinkSource interface {
	Subscribe(ctx context.Context) <-chan netpulse.Event
}

// An IPSource delivers verdicts over the targets probed through each
// interface: *ipmon.Poller and ipmontest's fake satisfy it. Subscribe's
// channel must start with the current verdict of every interface and be
// closed when ctx ends. The Monitor reads its *ipmon.VerdictEvent values and
// its *netpulse.ConditionEvent; it ignores the rest (*ipmon.TargetEvent,
// *netpulse.DropEvent).
type IPSource interface {
	Subscribe(ctx context.Context) <-chan netpulse.Event
}

// Config configures a Monitor. At least one source is needed.
type Config struct {
	// Links is the link-level source. Nil: no link evidence; every
	// interface's Link stays unknown, its Index is the one the IP source
	// reports (ipmon resolves it in its namespace; 0 when there is no such
	// interface), and an interface appears with its first verdict.
	Links LinkSource
	// Probes is the IP-level source. Nil: no IP evidence; every
	// interface's IP stays VerdictUnknown.
	Probes IPSource
	// Interfaces, if not empty, are the only interface names the Monitor
	// reports on; evidence about other names is ignored. Empty: every
	// interface the sources report on.
	Interfaces []string
}

// Validate reports whether c is a valid configuration (nil is not: it has
// no source). Every error it returns wraps os.ErrInvalid and names the
// first invalid field. New validates its Config with it.
func (c *Config) Validate() error {
	if c == nil || (c.Links == nil && c.Probes == nil) {
		return fmt.Errorf("health: Links, Probes: no source: set either or both: %w", os.ErrInvalid)
	}
	seen := make(map[string]bool, len(c.Interfaces))
	for _, n := range c.Interfaces {
		// The kernel's rules for a device name (dev_valid_name).
		if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n\v\f\r") {
			return fmt.Errorf("health: Interfaces: invalid interface name %q: %w", n, os.ErrInvalid)
		}
		if seen[n] {
			return fmt.Errorf("health: Interfaces: %q listed twice: %w", n, os.ErrInvalid)
		}
		seen[n] = true
	}
	return nil
}

// An EvidenceEvent reports that the evidence of one interface changed, or
// its evidence in a subscription's initial state (Initial). Events of an
// interface come in order and each carries its full evidence.
type EvidenceEvent struct {
	// Time is when the change was observed: the time of the source event
	// that caused it.
	Time time.Time
	// Evidence is the interface's evidence now. Its Health and Failure
	// methods give the health and what failed.
	Evidence netpulse.Evidence
	// Previous is the evidence the subscriber saw last for the interface
	// (zero when Initial, or when the interface first appears).
	Previous netpulse.Evidence
	// Initial marks the events a subscription starts with: the evidence of
	// every interface at the time of Subscribe.
	Initial bool
	// Coalesced counts the changes of this interface folded into this
	// event because the subscriber was behind; Previous is then the
	// evidence before the first of them.
	Coalesced int
}

// EventTime returns e.Time.
func (e *EvidenceEvent) EventTime() time.Time { return e.Time }

// A Monitor keeps the health evidence of every interface from its sources
// and delivers it to subscribers and Observers. Its methods are safe for
// concurrent use.
type Monitor struct {
	ctx    context.Context // ends at Close; the sources' subscriptions use it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	c      *core
	evs    [2]*EvidenceEvent                   // core.link appends here: no allocation per event
	subs   *fanout.Hub[string, netpulse.Event] // Subscribe's
	feeds  *fanout.Hub[string, netpulse.Event] // Feed's: evidence only, unbuffered
	closed bool
}

// New returns a Monitor that subscribes to the configured sources and keeps
// the evidence of every interface from then on. ctx bounds the setup (the
// subscriptions to the sources): New returns ctx's error if it is done
// before the Monitor runs. Cancelling it later has no effect: Close ends
// the Monitor.
//
// It returns an error wrapping os.ErrInvalid for an invalid Config (see
// Config.Validate).
func New(ctx context.Context, cfg *Config) (*Monitor, error) {
	return newMonitor(ctx, cfg, fanout.DefaultLimit)
}

// newMonitor is New with the cap of every subscription's queue.
func newMonitor(ctx context.Context, cfg *Config, limit int) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	m := &Monitor{
		c:     newCore(cfg.Links != nil, cfg.Probes != nil, cfg.Interfaces),
		subs:  newHub(subscribeBuffer, limit),
		feeds: newHub(0, limit),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	var links, ips <-chan netpulse.Event
	if cfg.Links != nil {
		links = cfg.Links.Subscribe(m.ctx)
	}
	if cfg.Probes != nil {
		ips = cfg.Probes.Subscribe(m.ctx)
	}
	m.wg.Add(1)
	go m.run(links, ips)
	return m, nil
}

// run applies the sources' events until both subscriptions end or the
// Monitor is closed.
func (m *Monitor) run(links, ips <-chan netpulse.Event) {
	defer m.wg.Done()
	for links != nil || ips != nil {
		select {
		case ev, ok := <-links:
			if !ok {
				links = nil
				m.lost(linkSource)
				continue
			}
			m.apply(linkSource, ev)
		case ev, ok := <-ips:
			if !ok {
				ips = nil
				m.lost(ipSource)
				continue
			}
			m.apply(ipSource, ev)
		case <-m.ctx.Done():
			return
		}
	}
}

func (m *Monitor) apply(src int, ev netpulse.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e := ev.(type) {
	case *netpulse.ConditionEvent:
		m.publishCondition(m.c.source(src, e.Condition, orNow(e.Time)))
		return
	case *netpulse.DropEvent:
		// The source's queue cap dropped events meant for us,
		// superseded ones first; the full states that follow carry the
		// latest.
		return
	}
	if src == linkSource {
		if in, ok := decodeLink(ev); ok {
			in.Time = orNow(in.Time)
			for _, e := range m.c.link(in, m.evs[:0]) {
				m.publish(e)
			}
		}
		return
	}
	if in, ok := decodeIP(ev); ok {
		in.Time = orNow(in.Time)
		if e := m.c.ip(in); e != nil {
			m.publish(e)
		}
	}
}

// orNow returns t, or the time now when a source left t zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// publish delivers a change of evidence to the subscriptions and the
// feeds. m.mu is held.
func (m *Monitor) publish(e *EvidenceEvent) {
	m.subs.Publish(e)
	m.feeds.Publish(e)
}

// errSourceEnded is the Monitor's condition error when a source ended its
// subscription while the Monitor runs (the source was closed): its evidence
// is no longer kept up to date.
var errSourceEnded = fmt.Errorf("subscription ended: %w", net.ErrClosed)

func (m *Monitor) lost(src int) {
	if m.ctx.Err() != nil {
		return // closing
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publishCondition(m.c.source(src, netpulse.Condition{Err: errSourceEnded}, time.Now()))
}

// publishCondition delivers a change of the Monitor's condition to the
// subscriptions (feeds apply evidence only). m.mu is held.
func (m *Monitor) publishCondition(ev *netpulse.ConditionEvent) {
	if ev != nil {
		m.subs.Publish(ev)
	}
}

// initial returns what a new subscription starts with: the condition if it
// is not OK (unless evidenceOnly), then the evidence of every interface, by
// name. m.mu is held.
func (m *Monitor) initial(evidenceOnly bool) []netpulse.Event {
	snap := m.c.snapshot()
	out := make([]netpulse.Event, 0, len(snap)+1)
	if !evidenceOnly && !m.c.cond.OK {
		out = append(out, &netpulse.ConditionEvent{Time: m.c.cond.Since, Condition: m.c.cond, Reason: netpulse.ReasonFailing})
	}
	for _, e := range snap {
		out = append(out, &EvidenceEvent{Time: e.Time, Evidence: e, Initial: true})
	}
	return out
}

// subscribeBuffer is the channel capacity of a Subscribe: a burst of that
// many events is delivered as it happened; beyond it, the changes of an
// interface wait in the subscriber's queue and fold into its latest.
const subscribeBuffer = 16

// Subscribe returns a channel that first delivers the current state: a
// *netpulse.ConditionEvent if the Monitor's condition is not OK, then the
// evidence of every interface (*EvidenceEvent with Initial set, ordered by
// name); then every change. It sends exactly three types:
//
//   - *EvidenceEvent: the evidence of one interface changed (its full new
//     evidence and the one the subscriber saw before);
//   - *netpulse.ConditionEvent: the Monitor's own condition changed (a
//     source reported its own condition changed, or ended its
//     subscription; Reason is netpulse.ReasonFailing or
//     netpulse.ReasonWorking);
//   - *netpulse.DropEvent: this subscriber fell behind its queue's cap and
//     Count events were dropped; it comes just before the next event.
//
// The channel is closed when ctx is done or the Monitor is closed (at once
// if it already is). Any number of subscriptions may be open.
//
// A subscriber that falls behind blocks nobody. Once its channel buffer (16
// events) is full, the changes of one interface waiting for it fold into
// one event (its Previous is the evidence the subscriber saw last;
// Coalesced counts them), and so do changes of the condition: the latest
// evidence of every interface always arrives, in order per interface,
// without a DropEvent. Its queue beyond the channel buffer is capped (16384
// events, or twice the initial events if more): past the cap, the events
// that a later event of the same interface follows are dropped first, and a
// *netpulse.DropEvent with their count comes just before the next event
// delivered. Events are shared by every subscriber: never modify one.
func (m *Monitor) Subscribe(ctx context.Context) <-chan netpulse.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		ch := make(chan netpulse.Event)
		close(ch)
		return ch
	}
	return m.subs.Subscribe(ctx, m.initial(false))
}

// Feed applies the evidence of every interface to o until ctx is done or
// the Monitor is closed: first the current evidence of every interface
// (ordered by name), then every change, in order per interface. It returns
// at once; o.Observe is called from a goroutine the Monitor owns, never
// concurrently by one Feed. Any number of Feeds may run, each with its own
// ctx (an Observer that comes and goes with a reload has a ctx that ends
// with it).
//
// An Observer slower than the changes blocks nobody: the changes of one
// interface not yet applied fold into its latest evidence, which is always
// applied (a Feed has no channel buffer: nothing stale waits in one). Past
// the queue's cap (as Subscribe's), the evidence that a later evidence of
// the same interface follows is dropped first.
//
// Feed returns an error wrapping os.ErrInvalid for a nil ctx or o, ctx's
// error when ctx is already done, and one wrapping net.ErrClosed when the
// Monitor is closed. After ctx is done, at most one more Observe call (one
// under way, or about to start) may run; ending ctx does not wait for it,
// Close does.
func (m *Monitor) Feed(ctx context.Context, o netpulse.Observer) error {
	if ctx == nil || o == nil {
		return fmt.Errorf("health: Feed needs a ctx and an Observer: %w", os.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("health: %w", net.ErrClosed)
	}
	in := m.feeds.Subscribe(ctx, m.initial(true))
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for ev := range in {
			if ctx.Err() != nil {
				return // the hub's forwarder ends with ctx too
			}
			if e, ok := ev.(*EvidenceEvent); ok {
				o.Observe(e.Evidence)
			}
		}
	}()
	return nil
}

// Snapshot returns the current evidence of every interface, by name.
func (m *Monitor) Snapshot() []netpulse.Evidence {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.snapshot()
}

// Condition returns the Monitor's own condition: not OK while a source
// reports it is not, or after a source ended its subscription.
func (m *Monitor) Condition() netpulse.Condition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.cond
}

// Close stops the Monitor: it ends its subscriptions to the sources (it
// does not close the sources), stops every Feed, closes every subscription
// channel and returns after every goroutine the Monitor started ended,
// waiting for a running Observe call to return. It is idempotent and
// returns nil.
func (m *Monitor) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.subs.Close()
	m.feeds.Close()
	m.wg.Wait()
	return nil
}
