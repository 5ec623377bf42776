//go:build !linux

package ipmon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// txState is empty where there is no kernel transport.
type txState struct{}

func (tx *txState) arpHW() [6]byte { return [6]byte{} }

var errUnsupported = fmt.Errorf("ipmon: not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Open returns an error wrapping errors.ErrUnsupported: ipmon needs Linux.
func Open(ctx context.Context, cfg *Config) (*Poller, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errUnsupported
}

// Discover returns an error wrapping errors.ErrUnsupported: ipmon needs
// Linux.
func Discover(ctx context.Context, netns int, iface string) ([]netip.Addr, error) {
	return nil, errUnsupported
}
