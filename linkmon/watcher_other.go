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

// Open returns an *Error wrapping errors.ErrUnsupported: linkmon needs Linux.
func Open(ctx context.Context, cfg *Config) (*Watcher, error) {
	if _, err := cfg.validate(); err != nil {
		return nil, err
	}
	return nil, &Error{Op: "open", Err: fmt.Errorf("%w: linkmon needs Linux, this is %s", errors.ErrUnsupported, runtime.GOOS)}
}
