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

func open(ctx context.Context, c Config) (*Poller, error) { return nil, errUnsupported }

func discover(ctx context.Context, netns int, iface string) ([]netip.Addr, error) {
	return nil, errUnsupported
}
