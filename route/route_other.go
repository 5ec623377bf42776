//go:build !linux

package route

import (
	"context"
	"errors"
)

var errUnsupported = wrapErr("kernel routing view", errors.ErrUnsupported)

// viewKernel is empty off Linux: OpenView fails.
type viewKernel struct{}

func (*View) open(context.Context) error { return errUnsupported }
func (*View) closeKernel()               {}

// steerKernel is empty off Linux: OpenSteerer fails.
type steerKernel struct{}

func (*Steerer) open(context.Context) error { return errUnsupported }
func (*Steerer) apply()                     {}
func (*Steerer) closeKernel() error         { return nil }
