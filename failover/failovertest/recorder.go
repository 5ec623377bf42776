// Package failovertest provides a recording fake of failover.Actuator for
// consumers' unit tests: it keeps a model of which interface holds which
// address, records every call, can fail calls on demand, and flags any
// removal that would leave an address on no interface.
package failovertest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
)

// Call is one recorded actuator call.
type Call struct {
	// Op is the call, in the words of failover.ActionErrorEvent.Op:
	// failover.OpAdd, OpRemove, OpSteer, OpAnnounce or OpAnnounceOwn (an
	// announcement of the interface's own addresses, failover.SelfAnnouncer).
	Op        string
	Interface netpulse.Interface
	// Address is the address of an add or remove.
	Address netip.Prefix
	// Addresses are the addresses of a steer or announce (for
	// failover.OpAnnounceOwn: the addresses excepted).
	Addresses []netip.Prefix
	// Time is when the call was made (time.Now, so simulated time under
	// testing/synctest).
	Time time.Time
	// Err is what the call returned.
	Err error
}

// FailFunc decides whether a call fails: a non-nil error is returned by the
// call, which then has no effect. p is the zero Prefix for steer and
// announce.
type FailFunc func(op string, ifc netpulse.Interface, p netip.Prefix) error

// Recorder is a failover.Actuator that records calls and models address
// placement. It is safe for concurrent use. The zero value is not usable:
// call NewRecorder.
type Recorder struct {
	mu         sync.Mutex
	calls      []Call
	holders    map[netip.Prefix]map[string]bool
	steered    map[netip.Prefix]string
	fail       FailFunc
	violations []string
	keep       int // calls kept; older ones are dropped (0: all)
	closed     bool
}

var _ failover.Actuator = (*Recorder)(nil)

// NewRecorder returns an empty Recorder: no address anywhere.
func NewRecorder() *Recorder {
	return &Recorder{holders: map[netip.Prefix]map[string]bool{}, steered: map[netip.Prefix]string{}}
}

// KeepCalls bounds the call log to the last n calls (0: unbounded), for
// long randomized tests.
func (r *Recorder) KeepCalls(n int) {
	r.mu.Lock()
	r.keep = n
	r.mu.Unlock()
}

// Place puts addresses on an interface without recording a call, to model
// a host where they already are.
func (r *Recorder) Place(ifc string, ps ...netip.Prefix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		r.hold(p)[ifc] = true
	}
}

// SetFail installs (or with nil removes) the hook that decides which calls
// fail.
func (r *Recorder) SetFail(fn FailFunc) {
	r.mu.Lock()
	r.fail = fn
	r.mu.Unlock()
}

func (r *Recorder) hold(p netip.Prefix) map[string]bool {
	h := r.holders[p]
	if h == nil {
		h = map[string]bool{}
		r.holders[p] = h
	}
	return h
}

func (r *Recorder) record(c Call) error {
	c.Time = time.Now()
	if r.fail != nil {
		c.Err = r.fail(c.Op, c.Interface, c.Address)
	}
	r.calls = append(r.calls, c)
	if r.keep > 0 && len(r.calls) > 2*r.keep {
		r.calls = append(r.calls[:0], r.calls[len(r.calls)-r.keep:]...)
	}
	return c.Err
}

// AddAddress implements failover.Actuator.
func (r *Recorder) AddAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.record(Call{Op: failover.OpAdd, Interface: ifc, Address: p}); err != nil {
		return err
	}
	r.hold(p)[ifc.Name] = true
	return nil
}

// RemoveAddress implements failover.Actuator. A removal of the last copy
// of an address is carried out and recorded as a violation.
func (r *Recorder) RemoveAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.record(Call{Op: failover.OpRemove, Interface: ifc, Address: p}); err != nil {
		return err
	}
	h := r.hold(p)
	if h[ifc.Name] && len(h) == 1 {
		r.violations = append(r.violations, fmt.Sprintf("%v removed from %s, its last holder", p, ifc.Name))
	}
	delete(h, ifc.Name)
	return nil
}

// SteerReturn implements failover.Actuator.
func (r *Recorder) SteerReturn(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.record(Call{Op: failover.OpSteer, Interface: ifc, Addresses: slices.Clone(addrs)}); err != nil {
		return err
	}
	for _, p := range addrs {
		r.steered[p] = ifc.Name
	}
	return nil
}

// Announce implements failover.Actuator.
func (r *Recorder) Announce(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.record(Call{Op: failover.OpAnnounce, Interface: ifc, Addresses: slices.Clone(addrs)})
}

// Holders returns the interfaces holding p, sorted.
func (r *Recorder) Holders(p netip.Prefix) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.holders[p] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Steered returns the interface the return path of p was last steered
// through ("" if never).
func (r *Recorder) Steered(p netip.Prefix) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.steered[p]
}

// Calls returns the recorded calls in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Reset forgets the recorded calls (not the placement).
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

// Violations returns the removals that left an address on no interface.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.violations)
}

// Drop takes p off ifc and forgets its return path, as an operator's `ip
// addr del` behind the engine's back would; no call is recorded.
func (r *Recorder) Drop(ifc string, p netip.Prefix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hold(p), ifc)
	delete(r.steered, p)
}

// Verify implements failover.Verifier from the model: the addresses not
// held by ifc, and whether any of them is steered elsewhere.
func (r *Recorder) Verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (failover.Drift, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d failover.Drift
	for _, p := range addrs {
		if !r.holders[p][ifc.Name] {
			d.Addresses = append(d.Addresses, p)
		}
		if r.steered[p] != ifc.Name {
			d.ReturnPath = true
		}
	}
	return d, nil
}

// AnnounceOwn implements failover.SelfAnnouncer: it records the call.
func (r *Recorder) AnnounceOwn(ctx context.Context, ifc netpulse.Interface, except []netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.record(Call{Op: failover.OpAnnounceOwn, Interface: ifc, Addresses: slices.Clone(except)})
}

// Close implements failover.Actuator: the engine that owns the Recorder
// closes it. The Recorder stays usable (its model and log can be read, and
// calls still work); Closed tells that Close was called.
func (r *Recorder) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// Closed reports whether Close was called.
func (r *Recorder) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
