//go:build !linux

package linkmon

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

type kernel struct{}

func (k *kernel) close()               {}
func (k *kernel) counters(c *Counters) {}

func open(ctx context.Context, vc *config) (*Watcher, error) {
	return nil, &Error{Op: "open", Err: fmt.Errorf("%w: linkmon needs Linux, this is %s", errors.ErrUnsupported, runtime.GOOS)}
}
