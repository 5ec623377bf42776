//go:build linux

package failover_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestKernelActuatorClosed: after Close every method of the kernel
// actuator returns an error wrapping net.ErrClosed, as every closed object
// of the library does (the root package's convention), and Close stays
// idempotent.
func TestKernelActuatorClosed(t *testing.T) {
	pr := netlab.NewPair(t, netlab.PairOptions{Peer: "sw", Links: []netlab.PairLink{{Name: "eth2", Peer: "p2"}}})
	act, err := failover.OpenActuator(context.Background(), &failover.ActuatorConfig{NetNS: pr.Node.FD()})
	require.NoError(t, err)
	ctx := t.Context()
	eth2 := netpulse.Interface{Name: "eth2"}
	require.NoError(t, act.AddAddress(ctx, eth2, svc4), "works while open")
	require.NoError(t, act.Close())
	require.NoError(t, act.Close(), "idempotent")

	addrs := []netip.Prefix{svc4}
	_, verifyErr := act.Verify(ctx, eth2, addrs)
	_, sweepErr := act.Sweep(ctx, addrs)
	_, holdersErr := act.Holders(ctx, svc4)
	for name, err := range map[string]error{
		"AddAddress":    act.AddAddress(ctx, eth2, svc4),
		"RemoveAddress": act.RemoveAddress(ctx, eth2, svc4),
		"SteerReturn":   act.SteerReturn(ctx, eth2, addrs),
		"Announce":      act.Announce(ctx, eth2, addrs),
		"AnnounceOwn":   act.AnnounceOwn(ctx, eth2, nil),
		"CheckConflict": act.CheckConflict(ctx, eth2, addrs, []netpulse.Interface{eth2}, false),
		"Verify":        verifyErr,
		"Sweep":         sweepErr,
		"Holders":       holdersErr,
	} {
		require.True(t, errors.Is(err, net.ErrClosed), "%s after Close: %v", name, err)
	}
}
