//go:build !linux

package route

import (
	"context"
	"errors"
	"net/netip"
)

var errUnsupported = wrapErr("kernel routing view", errors.ErrUnsupported)

// View is a live view of the kernel's routing state; Linux only.
type View struct{}

// NewView returns an error wrapping errors.ErrUnsupported off Linux.
func NewView(ctx context.Context, cfg *ViewConfig) (*View, error) { return nil, errUnsupported }

// Close does nothing off Linux.
func (v *View) Close() error { return nil }

// Subscribe returns a closed channel off Linux.
func (v *View) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

// Lookup finds nothing off Linux.
func (v *View) Lookup(dst netip.Addr) (Route, bool) { return Route{}, false }

// Select returns an error wrapping errors.ErrUnsupported off Linux.
func (v *View) Select(dst netip.Addr, h HealthSource) (Selection, error) {
	return Selection{}, errUnsupported
}

// Read reports false off Linux.
func (v *View) Read(table uint32, fn func(t *Table)) bool { return false }

// Routes returns nothing off Linux.
func (v *View) Routes() []Route { return nil }

// Links returns nothing off Linux.
func (v *View) Links() []Link { return nil }

// Addresses returns nothing off Linux.
func (v *View) Addresses(index int) []Address { return nil }

// Snapshot returns zero counters off Linux.
func (v *View) Snapshot() ViewSnapshot { return ViewSnapshot{} }

// Steerer steers kernel routes; Linux only.
type Steerer struct{}

// NewSteerer returns an error wrapping errors.ErrUnsupported off Linux.
func NewSteerer(ctx context.Context, cfg *SteererConfig) (*Steerer, error) {
	return nil, errUnsupported
}

// View returns nil off Linux.
func (s *Steerer) View() *View { return nil }

// Events returns a closed channel off Linux.
func (s *Steerer) Events() <-chan Event {
	ch := make(chan Event)
	close(ch)
	return ch
}

// Health returns unknown health off Linux.
func (s *Steerer) Health(index int) Health { return Health{} }

// SetHealth does nothing off Linux.
func (s *Steerer) SetHealth(index int, h Health) {}

// SetLinkState does nothing off Linux.
func (s *Steerer) SetLinkState(index int, st State) {}

// SetIPState does nothing off Linux.
func (s *Steerer) SetIPState(index int, st State) {}

// Reconcile does nothing off Linux.
func (s *Steerer) Reconcile() {}

// Snapshot returns an empty snapshot off Linux.
func (s *Steerer) Snapshot() SteererSnapshot { return SteererSnapshot{} }

// Close does nothing off Linux.
func (s *Steerer) Close() error { return nil }
