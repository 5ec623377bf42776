package metrics

import (
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// TestCollector feeds the collector snapshots as the packages return them
// and compares the exposition, in a registry of the test's own (what a Go
// user does). The daemon's real-kernel test scrapes the same collector
// over a live lab.
func TestCollector(t *testing.T) {
	var failures uint64 = 2
	src := Sources{
		Links: func() linkmon.Snapshot {
			return linkmon.Snapshot{Links: []linkmon.State{
				{Index: 2, Name: "eth2", Present: true, Carrier: true, AdminUp: true},
				{Index: 3, Name: "eth3", Present: true, Carrier: false, AdminUp: true},
			}}
		},
		Probes: func() ipmon.Snapshot {
			return ipmon.Snapshot{Sent: 42, Drops: ipmon.Drops{Spoofed: 3, Late: 1},
				Targets: []ipmon.TargetStats{
					{Target: ipmon.Target{Interface: "eth2", Addr: netip.MustParseAddr("198.18.10.200")}, State: ipmon.TargetUp, LastRTT: 250 * time.Microsecond},
					{Target: ipmon.Target{Interface: "eth3", Addr: netip.MustParseAddr("198.18.10.201")}, State: ipmon.TargetUnverified},
				}}
		},
		Groups: func() []failover.Status {
			return []failover.Status{{Groups: []failover.GroupStatus{{Name: "web", Active: "eth2", Members: []failover.InterfaceStatus{
				{Name: "eth3", Role: "primary", Health: netpulse.HealthLinkDown},
				{Name: "eth2", Role: "standby", Active: true, Health: netpulse.HealthUp},
			}}}}}
		},
		Switches: func() map[SwitchKey]uint64 { return map[SwitchKey]uint64{{"web", "link-down"}: 1} },
		Steering: func() []route.SteererSnapshot {
			return []route.SteererSnapshot{{Guards: []route.GuardState{{Dst: netip.MustParsePrefix("198.18.10.0/24"),
				Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Steered: true, Reason: netpulse.ReasonLinkDown}}}}
		},
		HookFailures: func() uint64 { return failures },
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(src)))
	want := `
# HELP netpulse_group_active 1 on the member holding the group's addresses, 0 on the others.
# TYPE netpulse_group_active gauge
netpulse_group_active{group="web",interface="eth2"} 1
netpulse_group_active{group="web",interface="eth3"} 0
# HELP netpulse_hook_failures_total Notify hooks that failed, were killed at their timeout or could not be queued.
# TYPE netpulse_hook_failures_total counter
netpulse_hook_failures_total 2
# HELP netpulse_link_carrier 1 when the link has carrier (and is present), else 0.
# TYPE netpulse_link_carrier gauge
netpulse_link_carrier{interface="eth2"} 1
netpulse_link_carrier{interface="eth3"} 0
# HELP netpulse_probes_sent_total Probes sent.
# TYPE netpulse_probes_sent_total counter
netpulse_probes_sent_total 42
# HELP netpulse_route_override 1 while the Steerer's override routes keep the prefix off the kernel's own choice, else 0.
# TYPE netpulse_route_override gauge
netpulse_route_override{prefix="198.18.10.0/24"} 1
# HELP netpulse_route_steered 1 on the interface a guarded prefix now uses (after steering; the series of the interface used before goes away).
# TYPE netpulse_route_steered gauge
netpulse_route_steered{interface="eth2",prefix="198.18.10.0/24"} 1
# HELP netpulse_switches_total Moves of a group's addresses, by reason (the initial placement excluded).
# TYPE netpulse_switches_total counter
netpulse_switches_total{group="web",reason="link-down"} 1
# HELP netpulse_target_rtt_seconds Last round-trip time to the polling target.
# TYPE netpulse_target_rtt_seconds gauge
netpulse_target_rtt_seconds{interface="eth2",target="198.18.10.200"} 0.00025
netpulse_target_rtt_seconds{interface="eth3",target="198.18.10.201"} 0
# HELP netpulse_target_unverified 1 while the polling target has never answered since it was added.
# TYPE netpulse_target_unverified gauge
netpulse_target_unverified{interface="eth2",target="198.18.10.200"} 0
netpulse_target_unverified{interface="eth3",target="198.18.10.201"} 1
# HELP netpulse_target_up 1 when the polling target answers through the interface; unverified and down are 0.
# TYPE netpulse_target_up gauge
netpulse_target_up{interface="eth2",target="198.18.10.200"} 1
netpulse_target_up{interface="eth3",target="198.18.10.201"} 0
`
	names := []string{"netpulse_group_active", "netpulse_hook_failures_total", "netpulse_link_carrier", "netpulse_probes_sent_total",
		"netpulse_route_override", "netpulse_route_steered", "netpulse_switches_total", "netpulse_target_rtt_seconds",
		"netpulse_target_unverified", "netpulse_target_up"}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), names...))

	// Health: one series per state, 1 on the current one.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP netpulse_interface_health 1 on the member interface's current health state, 0 on the others.
# TYPE netpulse_interface_health gauge
netpulse_interface_health{interface="eth2",state="disabled"} 0
netpulse_interface_health{interface="eth2",state="ip-down"} 0
netpulse_interface_health{interface="eth2",state="link-down"} 0
netpulse_interface_health{interface="eth2",state="unknown"} 0
netpulse_interface_health{interface="eth2",state="up"} 1
netpulse_interface_health{interface="eth3",state="disabled"} 0
netpulse_interface_health{interface="eth3",state="ip-down"} 0
netpulse_interface_health{interface="eth3",state="link-down"} 1
netpulse_interface_health{interface="eth3",state="unknown"} 0
netpulse_interface_health{interface="eth3",state="up"} 0
`), "netpulse_interface_health"))
	n, err := testutil.GatherAndCount(reg, "netpulse_replies_dropped_total")
	require.NoError(t, err)
	require.Equal(t, len(DropReasons), n, "one series per reason, zeros included")

	// A nil source exports none of its metrics.
	reg2 := prometheus.NewPedanticRegistry()
	require.NoError(t, reg2.Register(NewCollector(Sources{HookFailures: src.HookFailures})))
	n, err = testutil.GatherAndCount(reg2)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestDropReasonsCoverDrops: one reason per field of ipmon.Drops, in field
// order, so that a new drop counter cannot go unexported (Overflow did).
func TestDropReasonsCoverDrops(t *testing.T) {
	ty := reflect.TypeFor[ipmon.Drops]()
	require.Equal(t, ty.NumField(), len(DropReasons))
	for i := range ty.NumField() {
		want := strings.ToLower(regexp.MustCompile(`([a-z])([A-Z])`).ReplaceAllString(ty.Field(i).Name, "${1}_${2}"))
		require.Equal(t, want, DropReasons[i], "field %s", ty.Field(i).Name)
	}
	// Each reason's series reads its own field.
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(Sources{Probes: func() ipmon.Snapshot {
		return ipmon.Snapshot{Drops: ipmon.Drops{Foreign: 1, Spoofed: 2, Late: 3, Duplicate: 4, Malformed: 5, WrongInterface: 6, Overflow: 7}}
	}})))
	for i, r := range DropReasons {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var got float64
		for _, mf := range mfs {
			if mf.GetName() != "netpulse_replies_dropped_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == r {
					got = m.GetCounter().GetValue()
				}
			}
		}
		require.Equal(t, float64(i+1), got, "reason %s", r)
	}
}
