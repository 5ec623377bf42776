package route

import (
	"context"
)

// A Steerer makes the kernel agree with Select for guarded prefixes: when
// the interface the kernel uses for a guarded prefix is unhealthy (by the
// health the caller feeds in, or by the kernel's linkdown flag) and a
// healthy route to the same prefix exists, it installs the two halves of
// the prefix through the healthy route, marked with its protocol. Being
// more specific they win over the prefix whatever the metrics, so the
// guarded routes themselves are never modified: removing the halves
// restores the table exactly, a route deleted by an operator meanwhile
// needs no repair, and after a crash the marked routes are all that is
// left (a new Steerer removes them when it starts).
//
// Health is fed with SetHealth, SetLinkState and SetIPState; every change
// is applied to the kernel before the setter returns, and reported on
// Events. Kernel changes (routes, links, netconf) are reconciled by the
// Steerer's goroutine as they are notified.
type Steerer struct{ k *steerKernel }

// NewSteerer starts a Steerer: it opens its own View of the namespace,
// removes routes left by an earlier Steerer of the same protocol, sets the
// linkdown sysctl on guarded interfaces (unless configured not to) and
// reconciles once. Interfaces that do not exist yet are guarded once they
// appear (the sysctl is then not set for them).
//
// It first checks that it may change routes (a trial change of a route
// that carries no traffic): without CAP_NET_ADMIN in the namespace it
// returns an error wrapping os.ErrPermission that names the capability,
// even when the sysctls are already set and nothing else would fail
// before the first steering. The Steerer keeps its own duplicate of
// cfg.NetNS: the caller may close its descriptor once NewSteerer returns.
func NewSteerer(ctx context.Context, cfg *SteererConfig) (*Steerer, error) {
	k, err := newSteerKernel(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Steerer{k: k}, nil
}

// View returns the Steerer's view of the namespace (closed by Close).
func (s *Steerer) View() *View { return s.k.View() }

// Events returns the channel of steering events. It is closed by Close
// after the restoring events.
func (s *Steerer) Events() <-chan Event { return s.k.Events() }

// Health returns the health last set for the interface index.
func (s *Steerer) Health(index int) Health { return s.k.Health(index) }

// SetHealth sets both levels of an interface's health and reconciles: the
// kernel is steered accordingly when it returns (as are the health
// setters below; they serialise with each other).
func (s *Steerer) SetHealth(index int, h Health) { s.k.SetHealth(index, h) }

// SetLinkState sets the link level of an interface's health (from a link
// monitor) and reconciles.
func (s *Steerer) SetLinkState(index int, st State) { s.k.SetLinkState(index, st) }

// SetIPState sets the IP level of an interface's health (from an IP
// monitor) and reconciles.
func (s *Steerer) SetIPState(index int, st State) { s.k.SetIPState(index, st) }

// Reconcile reconciles now (the health setters and kernel changes do it
// already).
func (s *Steerer) Reconcile() { s.k.Reconcile() }

// Snapshot returns the guarded prefixes' state and the counters.
func (s *Steerer) Snapshot() SteererSnapshot { return s.k.Snapshot() }

// Close removes every route the Steerer installed, puts the sysctls back,
// stops its goroutine and its view, and closes Events. It is idempotent.
func (s *Steerer) Close() error { return s.k.Close() }
