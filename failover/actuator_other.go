//go:build !linux

package failover

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/netpulse/netpulse"
)

var errNoKernel = fmt.Errorf("failover: the kernel actuator needs Linux, this is %s: %w", runtime.GOOS, errors.ErrUnsupported)

// kernelActuator is never opened off Linux: openKernel fails, so no
// KernelActuator exists and its methods are never called.
type kernelActuator struct{}

func openKernel(ActuatorConfig) (*kernelActuator, error) { return nil, errNoKernel }

func (*kernelActuator) close() error { return nil }
func (*kernelActuator) addAddress(context.Context, netpulse.Interface, netip.Prefix) error {
	return errNoKernel
}
func (*kernelActuator) removeAddress(context.Context, netpulse.Interface, netip.Prefix) error {
	return errNoKernel
}
func (*kernelActuator) holders(context.Context, netip.Prefix) ([]netpulse.Interface, error) {
	return nil, errNoKernel
}
func (*kernelActuator) steerReturn(context.Context, netpulse.Interface, []netip.Prefix) error {
	return errNoKernel
}
func (*kernelActuator) announce(context.Context, netpulse.Interface, []netip.Prefix) error {
	return errNoKernel
}
func (*kernelActuator) announceOwn(context.Context, netpulse.Interface, []netip.Prefix) error {
	return errNoKernel
}
func (*kernelActuator) verify(context.Context, netpulse.Interface, []netip.Prefix) (Drift, error) {
	return Drift{}, errNoKernel
}
func (*kernelActuator) driftHints(context.Context) <-chan DriftHint {
	c := make(chan DriftHint)
	close(c)
	return c
}
func (*kernelActuator) sweep(context.Context, []netip.Prefix) (int, error) { return 0, errNoKernel }
func (*kernelActuator) checkConflict(context.Context, netpulse.Interface, []netip.Prefix, []netpulse.Interface, bool) error {
	return errNoKernel
}
