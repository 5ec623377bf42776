//go:build linux && !race

package ipmon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestProbePathAllocs: one probe through the real send and receive path
// (build and authenticate, sendmmsg, recvmmsg, decode, authenticate,
// match, state machine) allocates nothing, for IPv4 and IPv6. It counts
// every allocation of the process, the scheduler goroutine's included.
// Built without -race only (the race detector allocates): run it as
// `go test -run TestProbePathAllocs ./ipmon`.
func TestProbePathAllocs(t *testing.T) {
	lab := netlab.New(t)
	pair, err := lab.NewIPMonPair("", 46)
	require.NoError(t, err)
	p := openIn(t, pair.Node, Config{})
	for _, a := range []netip.Addr{pair.ServerAddr4, pair.ServerAddr6} {
		name := map[bool]string{false: "ipv4", true: "ipv6"}[a.Is6()]
		t.Run(name, func(t *testing.T) {
			require.NoError(t, p.Add(Target{Addr: a, Interface: "eth2", Interval: time.Hour, Timeout: time.Second}))
			probe := roundTrip(t, p, a)
			for range 50 { // warm up: ARP/ND, buffers
				probe()
			}
			allocs := testing.AllocsPerRun(500, probe)
			require.Zero(t, allocs, "allocations per probe")
		})
	}
}
