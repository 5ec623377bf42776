//go:build linux

package failover_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestIsPermanent: the kernel's errnos as the actuator wraps them.
func TestIsPermanent(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("failover: add 198.18.10.50/24 on eth3: %w", e) }
	for _, e := range []error{unix.EPERM, unix.EACCES, unix.ENODEV, failover.ErrMemberMissing,
		&failover.ConflictError{Address: netip.MustParsePrefix("198.18.10.50/24"), Interface: netpulse.Interface{Index: 1, Name: "lo"}}} {
		require.True(t, failover.IsPermanent(wrap(e)), "%v", e)
	}
	for _, e := range []error{unix.EAGAIN, unix.ENOBUFS, unix.EBUSY, unix.ENETDOWN, errors.New("other")} {
		require.False(t, failover.IsPermanent(wrap(e)), "%v", e)
	}
	require.False(t, failover.IsPermanent(nil))
}
