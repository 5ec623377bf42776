// Package health turns link and IP evidence into the health of each
// interface, with one meaning of dead, and feeds it to the components that
// act on it (route.Steerer, failover.Engine: netpulse.Observers).
//
// A Monitor subscribes to a link source (a *linkmon.Watcher) and an IP
// source (an *ipmon.Poller), either of which may be absent, and keeps one
// netpulse.Evidence per interface. Interfaces are keyed by name, which is
// authoritative: the index comes from the link source (from the IP source
// when there is none) and follows re-creation and renames; a link renamed away from a name leaves that name
// gone (Index 0, link down); a link that takes the name later is that
// interface, with the name's last verdict. Only a target that answered and
// stopped makes a path dead: a target that never answered is unverified,
// which is no evidence either way.
//
// Wiring health into the actors is one line each:
//
//	mon, err := health.New(ctx, &health.Config{Links: watcher, Probes: poller})
//	...
//	mon.Feed(steerer)
//	mon.Feed(engine)
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
// full states that follow carry what was folded).
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

// Validate reports whether c is usable by New; the error wraps
// os.ErrInvalid. A nil Config has no source and is not.
func (c *Config) Validate() error {
	if c == nil || (c.Links == nil && c.Probes == nil) {
		return fmt.Errorf("health: no source: set Config.Links, Config.Probes or both: %w", os.ErrInvalid)
	}
	seen := make(map[string]bool, len(c.Interfaces))
	for _, n := range c.Interfaces {
		// The kernel's rules for a device name (dev_valid_name).
		if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n\v\f\r") {
			return fmt.Errorf("health: invalid interface name %q: %w", n, os.ErrInvalid)
		}
		if seen[n] {
			return fmt.Errorf("health: interface %q listed twice: %w", n, os.ErrInvalid)
		}
		seen[n] = true
	}
	return nil
}

// An EvidenceEvent reports that the evidence of one interface changed.
// Events of an interface come in order and each carries its full evidence;
// Previous is the evidence the subscriber saw last for it (zero for the
// first).
type EvidenceEvent struct {
	// Time is when the change was observed: the time of the source event
	// that caused it.
	Time time.Time
	// Evidence is the interface's evidence now. Its Health and Failure
	// methods give the health and what failed.
	Evidence netpulse.Evidence
	// Previous is the evidence before the change (zero when Initial, or
	// when the interface first appears).
	Previous netpulse.Evidence
	// Initial marks the events a subscription starts with: the evidence of
	// every interface at the time of Subscribe.
	Initial bool
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
	hub    *fanout.Hub[string, delivery]
	closed bool
}

// New returns a Monitor that subscribes to the configured sources and keeps
// the evidence of every interface from then on. ctx bounds the setup (the
// subscriptions to the sources); cancelling it later has no effect: Close
// ends the Monitor. An invalid Config is an error wrapping os.ErrInvalid.
func New(ctx context.Context, cfg *Config) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	m := &Monitor{
		c:   newCore(cfg.Links != nil, cfg.Probes != nil, cfg.Interfaces),
		hub: fanout.New(0, delivery.key, delivery.merge, fanout.WithDropMark(delivery.addLost)),
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
		t := e.Time
		if t.IsZero() {
			t = time.Now()
		}
		m.publishCondition(m.c.source(src, e.Condition, t))
		return
	case *netpulse.DropEvent:
		// The source folded states it had for us; the latest state of
		// everything still comes.
		return
	}
	if src == linkSource {
		if in, ok := decodeLink(ev); ok {
			if in.Time.IsZero() {
				in.Time = time.Now()
			}
			for _, e := range m.c.link(in) {
				m.hub.Publish(delivery{ev: e})
			}
		}
		return
	}
	if in, ok := decodeIP(ev); ok {
		if in.Time.IsZero() {
			in.Time = time.Now()
		}
		if e := m.c.ip(in); e != nil {
			m.hub.Publish(delivery{ev: e})
		}
	}
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

func (m *Monitor) publishCondition(ev *netpulse.ConditionEvent) {
	if ev != nil {
		m.hub.Publish(delivery{ev: ev})
	}
}

// initial returns what a new subscription starts with: the condition if it
// is not OK, then the evidence of every interface. m.mu is held.
func (m *Monitor) initial() []delivery {
	snap := m.c.snapshot()
	out := make([]delivery, 0, len(snap)+1)
	if !m.c.cond.OK {
		out = append(out, delivery{ev: &netpulse.ConditionEvent{Time: m.c.cond.Since, Condition: m.c.cond, Reason: netpulse.ReasonFailing}})
	}
	for _, e := range snap {
		out = append(out, delivery{ev: &EvidenceEvent{Time: e.Time, Evidence: e, Initial: true}})
	}
	return out
}

// subscribeBuffer is the channel capacity of a Subscribe: a burst of that
// many events is delivered as it happened; beyond it, intermediate states
// of an interface are folded (and counted in a DropEvent).
const subscribeBuffer = 16

// Subscribe returns a channel that first receives the current evidence of
// every interface (*EvidenceEvent with Initial set), then every change, as
// *EvidenceEvent.
// It also receives a *netpulse.ConditionEvent when the Monitor's own
// condition changes (it is not OK while a source reports it is not, or
// after a source ended its subscription); a subscription starts with one
// if the Monitor is not OK. A subscriber that falls behind receives a
// *netpulse.DropEvent with the number of events folded or dropped, just
// before the next event; the latest evidence of every interface is always
// delivered. The channel is closed when ctx ends or the Monitor is closed.
func (m *Monitor) Subscribe(ctx context.Context) <-chan netpulse.Event {
	out := make(chan netpulse.Event, subscribeBuffer)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		close(out)
		return out
	}
	in := m.hub.Subscribe(ctx, m.initial())
	m.wg.Add(1)
	go m.deliver(ctx, in, out)
	return out
}

// deliver turns a hub subscription into a subscriber's events, a DropEvent
// before an event that folded others.
func (m *Monitor) deliver(ctx context.Context, in <-chan delivery, out chan<- netpulse.Event) {
	defer m.wg.Done()
	defer close(out)
	send := func(ev netpulse.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
		case <-m.ctx.Done():
		}
		return false
	}
	for d := range in {
		if d.lost > 0 && !send(&netpulse.DropEvent{Time: d.lostAt, Count: d.lost}) {
			return
		}
		if !send(d.ev) {
			return
		}
	}
}

// Feed applies the evidence of every interface to o, from a goroutine the
// Monitor owns: first the current evidence of every interface, then every
// change, in order per interface. o.Observe is never called concurrently by
// one Feed; when o is slower than the changes, it gets the latest evidence
// of each interface (intermediate states are folded). Feed returns an error
// wrapping os.ErrInvalid for a nil o and one wrapping net.ErrClosed when
// the Monitor is closed. Close waits for a running Observe call to return.
// o is fed until the Monitor is closed; to feed an Observer for less (one
// that comes and goes with a reload), range over a Subscribe channel
// instead, and pass each *EvidenceEvent's Evidence to o.Observe.
func (m *Monitor) Feed(o netpulse.Observer) error {
	if o == nil {
		return fmt.Errorf("health: Feed of a nil Observer: %w", os.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("health: %w", net.ErrClosed)
	}
	in := m.hub.Subscribe(m.ctx, m.initial())
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for d := range in {
			if e, ok := d.ev.(*EvidenceEvent); ok {
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

// Close ends the subscriptions to the sources, closes every subscription
// and stops every Feed, and returns once the Monitor's goroutines have
// ended. It does not close the sources. It is idempotent.
func (m *Monitor) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.hub.Close()
	m.wg.Wait()
	return nil
}
