//go:build !linux

package failover

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// KernelActuator is the kernel's Actuator; it needs Linux.
type KernelActuator struct{}

var errNoKernel = fmt.Errorf("failover: the kernel actuator needs Linux, this is %s: %w", runtime.GOOS, errors.ErrUnsupported)

// NewActuator returns an error wrapping errors.ErrUnsupported on this
// system.
func NewActuator(cfg *ActuatorConfig) (*KernelActuator, error) { return nil, errNoKernel }

// AddAddress returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) AddAddress(context.Context, Interface, netip.Prefix) error { return errNoKernel }

// RemoveAddress returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) RemoveAddress(context.Context, Interface, netip.Prefix) error {
	return errNoKernel
}

// SteerReturn returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) SteerReturn(context.Context, Interface, []netip.Prefix) error {
	return errNoKernel
}

// Announce returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) Announce(context.Context, Interface, []netip.Prefix) error { return errNoKernel }

// Close does nothing.
func (*KernelActuator) Close() error { return nil }

// Holders returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) Holders(context.Context, netip.Prefix) ([]Interface, error) {
	return nil, errNoKernel
}

// Verify returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) Verify(context.Context, Interface, []netip.Prefix) (Drift, error) {
	return Drift{}, errNoKernel
}

// DriftHints returns a closed channel.
func (*KernelActuator) DriftHints(context.Context) <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Sweep returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) Sweep(context.Context, []netip.Prefix) (int, error) { return 0, errNoKernel }

// CheckConflict returns an error wrapping errors.ErrUnsupported.
func (*KernelActuator) CheckConflict(context.Context, Interface, []netip.Prefix, []Interface, bool) error {
	return errNoKernel
}
