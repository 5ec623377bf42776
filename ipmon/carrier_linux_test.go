//go:build linux

package ipmon

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// carrierTrials runs n carrier cycles on eth3's switch port in the lab of
// examples/lab (node eth3 and eth2 on a bridge, a server; strict ARP):
// carrier lost, eth3's target declared down, carrier kept off for down,
// carrier back; it returns, per cycle, the time from carrier back to eth3's
// target Up, and checks that eth2's target never left Up.
func carrierTrials(t *testing.T, subnet byte, n int, down time.Duration, flush bool) (recover, detect []time.Duration) {
	t.Helper()
	return carrierTrialsWith(t, carrierLab{subnet: subnet, n: n, down: down, flush: flush})
}

// carrierLab describes a run of carrierTrialsWith.
type carrierLab struct {
	subnet byte
	n      int
	down   time.Duration
	flush  bool // the Poller's neighbour flush on carrier return
	// nicLike builds the lab with NIC-like veths (equal ifindex at both
	// ends), as examples/lab does.
	nicLike bool
	// syncPort brings the switch port up with SetPortUp (its linkwatch
	// event processed at once) instead of SetUp.
	syncPort bool
}

func carrierTrialsWith(t *testing.T, c carrierLab) (recover, detect []time.Duration) {
	t.Helper()
	subnet, n, down, flush := c.subnet, c.n, c.down, c.flush
	lab := netlab.New(t)
	build := lab.NewIPMonDual
	if c.nicLike {
		build = lab.NewIPMonDualNIC
	}
	d, err := build("", subnet, true)
	require.NoError(t, err)
	portUp := d.Switch.SetUp
	if c.syncPort {
		portUp = d.Switch.SetPortUp
	}
	p := openIn(t, d.Node, Config{Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond, FailAfter: 3, RecoverAfter: 2})
	p.tr.(*linuxTransport).carrier.off.Store(!flush)
	w := subscribe(t, p)
	for _, dev := range []string{"eth2", "eth3"} {
		require.NoError(t, p.Add(Target{Addr: d.ServerAddr4, Interface: dev}))
		require.NoError(t, p.Add(Target{Addr: d.ServerAddr6, Interface: dev}))
	}
	for _, dev := range []string{"eth2", "eth3"} {
		w.waitTarget(dev, d.ServerAddr4, TargetUp, 5*time.Second)
		w.waitTarget(dev, d.ServerAddr6, TargetUp, 5*time.Second)
	}
	// waitBoth waits for eth3's two targets to reach want and returns when
	// the later did; eth2's must not change.
	waitBoth := func(want TargetState, from time.Time) time.Duration {
		t.Helper()
		got := map[bool]time.Time{}
		deadline := time.After(5 * time.Second)
		for len(got) < 2 {
			select {
			case raw := <-w.ch:
				ev, ok := raw.(*TargetEvent)
				if !ok {
					continue
				}
				require.NotEqual(t, "eth2", ev.Target.Interface, "eth2's target changed: %+v", ev)
				if ev.Target.Interface == "eth3" && ev.State == want {
					got[ev.Target.Addr.Is6()] = ev.Time
				}
			case <-deadline:
				t.Fatalf("eth3's targets not %v within 5 s (%v)", want, got)
			}
		}
		return max(got[false].Sub(from), got[true].Sub(from))
	}
	for range n {
		t0 := time.Now()
		require.NoError(t, d.Switch.SetDown("p3"))
		detect = append(detect, waitBoth(TargetDown, t0))
		time.Sleep(down)
		t1 := time.Now()
		require.NoError(t, portUp("p3"))
		recover = append(recover, waitBoth(TargetUp, t1))
		time.Sleep(50 * time.Millisecond)
	}
	sn := p.Snapshot()
	t.Logf("probes sent %d, send errors %d (local: %d)", sn.Sent, sn.SendErrors, sn.LocalSendErrors)
	return recover, detect
}

func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

// carrierTrialCount is NETPULSE_CARRIER_TRIALS, 3 if unset.
func carrierTrialCount(t *testing.T) int {
	v := os.Getenv("NETPULSE_CARRIER_TRIALS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err)
	return n
}

// reportCarrier logs the recovery and detection times of a carrier test's
// trials.
func reportCarrier(t *testing.T, what string, rec, det []time.Duration) {
	t.Logf("%s: carrier back -> up, %d trials: median %v p99 %v max %v; carrier lost -> down: median %v p99 %v max %v",
		what, len(rec), percentile(rec, 0.5), percentile(rec, 0.99), slices.Max(rec), percentile(det, 0.5), percentile(det, 0.99), slices.Max(det))
}

// TestLabCarrierReturnRecovery: after carrier comes back on eth3, its IPv4
// and IPv6 targets are Up again within 100 ms (10 ms x 2 replies need
// 20 ms), while eth2's never change. NETPULSE_CARRIER_TRIALS sets the
// number of cycles (default 3); NETPULSE_CARRIER_BASELINE=1 first runs as
// many with the neighbour flush off, for a same-run baseline.
func TestLabCarrierReturnRecovery(t *testing.T) {
	n := carrierTrialCount(t)
	if os.Getenv("NETPULSE_CARRIER_BASELINE") == "1" {
		rec, det := carrierTrials(t, 44, n, 300*time.Millisecond, false)
		reportCarrier(t, "baseline (no flush)", rec, det)
	}
	rec, det := carrierTrials(t, 43, n, 300*time.Millisecond, true)
	reportCarrier(t, "with flush", rec, det)
	// The goal is p99 < 100 ms; with a few trials on a shared machine,
	// the median is what this asserts.
	require.Less(t, percentile(rec, 0.5), 100*time.Millisecond)
	require.Less(t, slices.Max(rec), 300*time.Millisecond)
}

// TestLabCarrierReturnAfterOpenWithoutCarrier: eth3 has no carrier when the
// Poller opens (so its first link notification is the carrier return
// itself); its targets, added meanwhile, are Up within 300 ms of the
// carrier coming back. Without the neighbour flush the kernel's next
// solicitation is up to retrans_time (1 s) away (580-700 ms measured).
func TestLabCarrierReturnAfterOpenWithoutCarrier(t *testing.T) {
	lab := netlab.New(t)
	d, err := lab.NewIPMonDual("", 48, true)
	require.NoError(t, err)
	require.NoError(t, d.Switch.SetDown("p3"))
	require.Eventually(t, func() bool {
		up, err := d.Node.Carrier("eth3")
		return err == nil && !up
	}, 5*time.Second, 10*time.Millisecond)
	p := openIn(t, d.Node, Config{Interval: 10 * time.Millisecond, Timeout: 10 * time.Millisecond, FailAfter: 3, RecoverAfter: 2})
	w := subscribe(t, p)
	require.NoError(t, p.Add(Target{Addr: d.ServerAddr4, Interface: "eth3"}))
	require.NoError(t, p.Add(Target{Addr: d.ServerAddr6, Interface: "eth3"}))
	// Let the probes create unresolved neighbour entries whose
	// solicitations go nowhere.
	time.Sleep(300 * time.Millisecond)
	t1 := time.Now()
	require.NoError(t, d.Switch.SetUp("p3"))
	ev4 := w.waitTarget("eth3", d.ServerAddr4, TargetUp, 5*time.Second)
	ev6 := w.waitTarget("eth3", d.ServerAddr6, TargetUp, 5*time.Second)
	rec := max(ev4.Time.Sub(t1), ev6.Time.Sub(t1))
	t.Logf("carrier back -> up: IPv4 %v, IPv6 %v", ev4.Time.Sub(t1), ev6.Time.Sub(t1))
	require.Less(t, rec, 300*time.Millisecond)
}

// TestLabCarrierReturnRecoveryNICLike is TestLabCarrierReturnRecovery on
// NIC-like veths (equal ifindex at both ends), the lab of examples/lab: the
// node's interfaces behave like physical NICs, whose carrier-loss
// notifications the kernel batches. The switch port comes back with
// SetPortUp, as a hardware switch port that forwards once its link is up
// (with a plain SetUp the emulated port stays operstate-down, a disabled
// bridge port, until the host-wide non-urgent linkwatch run: see
// netlab.NS.SetPortUp). Asserted: median < 100 ms from carrier back to both
// of eth3's targets Up, eth2's never changing. NETPULSE_CARRIER_TRIALS sets
// the number of cycles (default 3); NETPULSE_CARRIER_BASELINE=1 first runs
// as many with a plain SetUp of the port (the lab before its repair) and
// with the Poller's neighbour flush off, for same-run baselines.
//
// Carrier loss is asserted too: with no linkmon checking the carrier, the
// node's carrier loss waits for the non-urgent linkwatch run, and meanwhile
// veth refuses the probes with ENOBUFS (its peer is down: NET_XMIT_DROP),
// the errno of a full local queue; the transport then asks for the device's
// carrier (carrierprobe_linux.go), so the refusals are misses. Without that
// check: 650 ms median, 1.04 s p99 from carrier loss to "down" (10 trials),
// with it 40-44 ms / 53-57 ms.
func TestLabCarrierReturnRecoveryNICLike(t *testing.T) {
	n := carrierTrialCount(t)
	if os.Getenv("NETPULSE_CARRIER_BASELINE") == "1" {
		t.Run("baseline-port-setup", func(t *testing.T) {
			rec, det := carrierTrialsWith(t, carrierLab{subnet: 46, n: n, down: 300 * time.Millisecond, flush: true, nicLike: true})
			reportCarrier(t, "baseline NIC-like, plain port SetUp, flush on", rec, det)
		})
		t.Run("baseline-no-flush", func(t *testing.T) {
			rec, det := carrierTrialsWith(t, carrierLab{subnet: 47, n: n, down: 300 * time.Millisecond, nicLike: true, syncPort: true})
			reportCarrier(t, "baseline NIC-like, SetPortUp, flush off", rec, det)
		})
	}
	rec, det := carrierTrialsWith(t, carrierLab{subnet: 45, n: n, down: 300 * time.Millisecond, flush: true, nicLike: true, syncPort: true})
	reportCarrier(t, "NIC-like, SetPortUp, flush on", rec, det)
	require.Less(t, percentile(rec, 0.5), 100*time.Millisecond)
	require.Less(t, slices.Max(rec), 300*time.Millisecond)
	require.Less(t, percentile(det, 0.5), 100*time.Millisecond, "carrier loss to down")
}
