//go:build !linux

package route

import (
	"context"
	"errors"
	"net/netip"
)

var errUnsupported = wrapErr("kernel routing view", errors.ErrUnsupported)

type viewKernel struct{}

func newViewKernel(context.Context, *ViewConfig) (*viewKernel, error) { return nil, errUnsupported }

type steerKernel struct{}

func newSteerKernel(context.Context, *SteererConfig) (*steerKernel, error) {
	return nil, errUnsupported
}

func (*viewKernel) Close() error                         { return nil }
func (*viewKernel) Subscribe() (<-chan struct{}, func()) { return closedC[struct{}](), func() {} }
func (*viewKernel) Lookup(dst netip.Addr) (Route, bool)  { return Route{}, false }
func (*viewKernel) Select(dst netip.Addr, h HealthSource) (Selection, error) {
	return Selection{}, errUnsupported
}
func (*viewKernel) Read(table uint32, fn func(t *Table)) bool { return false }
func (*viewKernel) Routes() []Route                           { return nil }
func (*viewKernel) Links() []Link                             { return nil }
func (*viewKernel) Addresses(index int) []Address             { return nil }
func (*viewKernel) Snapshot() ViewSnapshot                    { return ViewSnapshot{} }
func (*steerKernel) View() *View                              { return nil }
func (*steerKernel) Events() <-chan Event                     { return closedC[Event]() }
func (*steerKernel) Health(index int) Health                  { return Health{} }
func (*steerKernel) SetHealth(index int, h Health)            {}
func (*steerKernel) SetLinkState(index int, st State)         {}
func (*steerKernel) SetIPState(index int, st State)           {}
func (*steerKernel) Reconcile()                               {}
func (*steerKernel) Snapshot() SteererSnapshot                { return SteererSnapshot{} }
func (*steerKernel) Close() error                             { return nil }

// closedC returns a closed channel: a subscription that ends at once.
func closedC[T any]() chan T {
	ch := make(chan T)
	close(ch)
	return ch
}
