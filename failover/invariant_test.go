package failover_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/failover/failovertest"
	"github.com/stretchr/testify/require"
)

// model is the test's own account of the evidence it fed the engine, and
// what health that must give.
type model struct {
	carrier     map[string]bool
	verdict     map[string]netpulse.Verdict
	opDisabled  map[string]bool
	polDisabled map[string]bool
	disableIP   bool
}

func (m *model) health(name string) netpulse.Health {
	if m.opDisabled[name] || m.polDisabled[name] {
		return netpulse.HealthDisabled
	}
	switch {
	case !m.carrier[name]:
		return netpulse.HealthLinkDown
	case m.verdict[name] == netpulse.VerdictDead:
		return netpulse.HealthIPDown
	}
	return netpulse.HealthUp
}

// TestRandomizedInvariant drives the engine through random link and IP
// faults, operator actions and actuator failures, and checks after every
// step that no service address is ever lost and that, once the actuator
// works again, every address is on exactly one member, a healthy one,
// whenever any member is healthy.
func TestRandomizedInvariant(t *testing.T) {
	for _, tc := range []struct {
		policy    failover.FailbackPolicy
		disableIP bool
		steps     int
	}{
		{failover.FailbackAuto, false, 10000},
		{failover.FailbackManual, true, 2000},
		{failover.FailbackNever, false, 2000},
	} {
		t.Run(fmt.Sprintf("%s/disable=%v", tc.policy, tc.disableIP), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				runInvariant(t, tc.policy, tc.disableIP, tc.steps, uint64(tc.steps)+uint64(tc.policy))
			})
		})
	}
}

func runInvariant(t *testing.T, policy failover.FailbackPolicy, disableIP bool, steps int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	members := []string{"eth3", "eth2", "eth4"}
	addrs := []netip.Prefix{svc4, svc6, netip.MustParsePrefix("198.18.10.51/24")}
	rec := failovertest.NewRecorder()
	rec.KeepCalls(64)
	e, err := failover.Open(context.Background(), &failover.Config{
		Groups: []failover.GroupConfig{{
			Primary: "eth3", Standbys: []string{"eth2", "eth4"}, Addresses: addrs,
			Failback: policy, HoldDown: 300 * time.Millisecond, MinDwell: 200 * time.Millisecond,
			DisableOnIPFailure: disableIP,
		}},
		Actuator: rec,
		RetryMax: time.Second,
	})
	require.NoError(t, err)
	defer e.Close()
	sub := e.Subscribe(context.Background())
	go func() {
		for range sub {
		}
	}()

	m := &model{carrier: map[string]bool{}, verdict: map[string]netpulse.Verdict{},
		opDisabled: map[string]bool{}, polDisabled: map[string]bool{}, disableIP: disableIP}
	for _, n := range members {
		m.carrier[n] = true
		feed(e).link(n, 0, true)
	}
	synctest.Wait()

	errFault := errors.New("injected fault")
	placed := false
	stats := map[string]int{}
	holdersOf := func() [][]string {
		var hs [][]string
		for _, a := range addrs {
			hs = append(hs, rec.Holders(a))
		}
		return hs
	}
	anyUp := func() bool {
		for _, n := range members {
			if m.health(n) == netpulse.HealthUp {
				return true
			}
		}
		return false
	}
	for step := 0; step < steps; step++ {
		before := holdersOf()
		n := members[rng.IntN(len(members))]
		switch k := rng.IntN(20); {
		case k < 8:
			m.carrier[n] = !m.carrier[n]
			feed(e).link(n, 0, m.carrier[n])
			stats["link"]++
		case k < 16:
			v := []netpulse.Verdict{netpulse.VerdictAlive, netpulse.VerdictDead, netpulse.VerdictUnverified, netpulse.VerdictAlive}[rng.IntN(4)]
			m.verdict[n] = v
			feed(e).ip(n, v)
			stats["ip"]++
		case k < 17:
			m.opDisabled[n] = true
			require.NoError(t, e.Disable(n))
			stats["disable"]++
		case k < 19:
			m.opDisabled[n], m.polDisabled[n] = false, false
			require.NoError(t, e.Enable(n))
			stats["enable"]++
		default:
			// Actuator faults from now until the next settle.
			op := []string{failover.OpAdd, failover.OpRemove, failover.OpSteer, ""}[rng.IntN(4)]
			budget := 1 + rng.IntN(6)
			rec.SetFail(func(o string, ifc netpulse.Interface, p netip.Prefix) error {
				if budget > 0 && (op == "" || o == op) && o != failover.OpAnnounce {
					budget--
					return errFault
				}
				return nil
			})
			stats["faults"]++
		}
		if disableIP {
			for _, x := range members {
				if m.carrier[x] && m.verdict[x] == netpulse.VerdictDead {
					m.polDisabled[x] = true
				}
			}
		}
		synctest.Wait()

		st := e.Snapshot()
		for _, ms := range st.Groups[0].Members {
			require.Equal(t, m.health(ms.Name), ms.Health, "step %d: health of %s", step, ms.Name)
		}
		if !anyUp() {
			require.Equal(t, failover.GroupSubnetDown, st.Groups[0].State, "step %d", step)
			require.Equal(t, before, holdersOf(), "step %d: subnet-down keeps the addresses where they are", step)
			stats["subnet-down"]++
		}
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		synctest.Wait()

		// Never lost: once placed, every address is somewhere.
		require.Empty(t, rec.Violations(), "step %d", step)
		hs := holdersOf()
		if !placed && len(hs[0]) > 0 {
			placed = true
		}
		if placed {
			for i, h := range hs {
				require.NotEmpty(t, h, "step %d: %v lost", step, addrs[i])
			}
		}

		if rng.IntN(3) == 0 {
			// Settle: the actuator works again; after the longest backoff
			// every address is on exactly one member, a healthy one.
			rec.SetFail(nil)
			time.Sleep(time.Second + 10*time.Millisecond)
			synctest.Wait()
			st := e.Snapshot()
			hs := holdersOf()
			if anyUp() {
				require.False(t, st.Groups[0].MovePending, "step %d", step)
				active := st.Groups[0].Active
				require.Equal(t, netpulse.HealthUp, m.health(active), "step %d: active %s", step, active)
				for i, h := range hs {
					require.Equal(t, []string{active}, h, "step %d: %v", step, addrs[i])
				}
				require.Equal(t, active, rec.Steered(svc4), "step %d: return path", step)
				stats["checked"]++
			} else if placed && !st.Groups[0].MovePending {
				// Subnet-down after a completed move: every address is on
				// exactly one member, the same one. (After a move that
				// failed half way they may be on two until a member is up.)
				for i, h := range hs {
					require.Len(t, h, 1, "step %d: %v", step, addrs[i])
					require.Equal(t, hs[0], h, "step %d: %v", step, addrs[i])
				}
				stats["checked-subnet-down"]++
			}
		}
	}
	st := e.Snapshot()
	t.Logf("steps %d: %v; switches %d, failbacks %d, action errors %d", steps, stats,
		st.Counters.Switches, st.Counters.Failbacks, st.Counters.ActionErrors)
	require.Positive(t, st.Counters.Switches)
	require.Positive(t, st.Counters.ActionErrors)
	require.Positive(t, stats["checked"])
	require.Positive(t, stats["subnet-down"])
	require.Positive(t, stats["checked-subnet-down"])
	if policy == failover.FailbackAuto {
		require.Positive(t, st.Counters.Failbacks)
	}
}
