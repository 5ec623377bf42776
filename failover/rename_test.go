package failover_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/linkmon/linkmontest"
	"github.com/stretchr/testify/require"
)

// TestRenamedMember: with the fake link source through a health.Monitor, the active eth3 is renamed
// eth9: eth3 is gone (link-down, never chosen) and the addresses move to
// eth2; eth9's later changes do not touch eth3; a new device that takes
// the name eth3 is that member (its index followed) and, up, gets the
// addresses back by failback.
func TestRenamedMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{NoHoldDown: true, NoMinDwell: true}, nil)
		defer r.close()
		src := linkmontest.New(linkmontest.Link(13, "eth3", true), linkmontest.Link(12, "eth2", true))
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mon, err := health.New(ctx, &health.Config{Links: src})
		require.NoError(t, err)
		defer mon.Close()
		require.NoError(t, mon.Feed(ctx, r.e))
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		r.take()

		src.Set(linkmontest.Link(13, "eth9", true)) // ip link set eth3 name eth9
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders(), "the addresses left the renamed member")
		m := r.member("eth3")
		require.Equal(t, netpulse.HealthLinkDown, m.Health)
		require.Equal(t, netpulse.StateDown, m.Link)
		sw := switches(r.take())
		require.Len(t, sw, 1)
		require.Equal(t, netpulse.ReasonLinkDown, sw[0].Reason)

		// eth9 flaps: not a member, eth3 stays gone.
		src.Set(linkmontest.Link(13, "eth9", false))
		src.Set(linkmontest.Link(13, "eth9", true))
		synctest.Wait()
		require.Equal(t, netpulse.HealthLinkDown, r.member("eth3").Health)
		require.Equal(t, []string{"eth2"}, r.holders())
		require.Positive(t, r.e.Snapshot().Counters.UnknownEvidence)

		// A new device takes the name: it is eth3.
		src.Set(linkmontest.Link(21, "eth3", true))
		synctest.Wait()
		m = r.member("eth3")
		require.Equal(t, netpulse.HealthUp, m.Health)
		require.Equal(t, 21, m.Index)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders(), "failback to the new eth3")
	})
}
