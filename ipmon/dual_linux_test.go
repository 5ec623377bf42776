//go:build linux

package ipmon

import (
	"github.com/netpulse/netpulse"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
)

// TestLabTwoInterfacesOneSubnet: eth2 and eth3 on one subnet through a
// bridge, the server reachable through both. Carrier loss on eth3, then
// (carrier back) its bridge port detached: each time eth3's targets go down
// while eth2's stay up; and no target flaps while both are healthy for 10 s.
// With Linux's default ARP settings (and the default ingress rule), and
// again with strict ARP settings and StrictIngress.
func TestLabTwoInterfacesOneSubnet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		strict bool
		subnet byte
	}{{"default-arp", false, 30}, {"strict-arp-strict-ingress", true, 31}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t)
			d, err := lab.NewIPMonDual("", tc.subnet, tc.strict)
			require.NoError(t, err)
			p := openIn(t, d.Node, Config{
				Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond,
				FailAfter: 3, RecoverAfter: 2, StrictIngress: tc.strict,
			})
			w := subscribe(t, p)
			servers := []netip.Addr{d.ServerAddr4, d.ServerAddr6}
			for _, dev := range []string{"eth2", "eth3"} {
				for _, a := range servers {
					require.NoError(t, p.Add(Target{Addr: a, Interface: dev}))
				}
			}
			waitAll := func(dev string, want TargetState) {
				t.Helper()
				for _, a := range servers {
					w.waitTarget(dev, a, want, 10*time.Second)
				}
			}
			waitAll("eth2", TargetUp)
			waitAll("eth3", TargetUp)
			if tc.strict {
				require.Empty(t, p.Snapshot().Diagnostics)
			}

			// Both healthy for 10 s: no target changes state.
			evs := w.drain(10 * time.Second)
			require.Empty(t, evs, "a target flapped while both interfaces were healthy")
			s := p.Snapshot()
			for _, ts := range s.Targets {
				require.Equal(t, TargetUp, ts.State, "%v", ts.Target)
				require.Zero(t, ts.ConsecutiveMisses, "%v", ts.Target)
			}
			t.Logf("drops after the healthy period: %+v, other-ingress per target: %v", s.Drops, otherIngress(s))

			// expectEth3Down runs fault, waits for eth3's targets to go
			// down, checks that eth2's never left Up, then runs repair and
			// waits for eth3 to come back.
			expectEth3Down := func(what string, fault, repair func() error) {
				t.Helper()
				require.NoError(t, fault(), what)
				for _, a := range servers {
					ev := w.waitTarget("eth3", a, TargetDown, 10*time.Second)
					require.Equal(t, TargetUp, ev.Previous, what)
				}
				// Give eth2 time to show a false failure, if any.
				for _, ev := range w.drain(time.Second) {
					require.NotEqual(t, "eth2", ev.Target.Interface, "%s: eth2 target changed: %+v", what, ev)
				}
				for _, ts := range p.Snapshot().Targets {
					if ts.Target.Interface == "eth2" {
						require.Equal(t, TargetUp, ts.State, "%s: %v", what, ts.Target)
					}
				}
				for _, iface := range p.Snapshot().Interfaces {
					want := netpulse.VerdictAlive
					if iface.Interface.Name == "eth3" {
						want = netpulse.VerdictDead
					}
					require.Equal(t, want, iface.Verdict, "%s: %s", what, iface.Interface.Name)
				}
				require.NoError(t, repair(), what)
				waitAll("eth3", TargetUp)
				for _, ev := range w.drain(500 * time.Millisecond) {
					require.NotEqual(t, "eth2", ev.Target.Interface, "%s: eth2 target changed: %+v", what, ev)
				}
			}
			expectEth3Down("carrier loss",
				func() error { return d.Switch.SetDown("p3") },
				func() error { return d.Switch.SetUp("p3") })
			expectEth3Down("bridge port detached",
				func() error { return d.Switch.SetMaster("p3", "") },
				func() error { return d.Switch.SetMaster("p3", "br0") })
		})
	}
}

func otherIngress(s Snapshot) map[string]uint64 {
	m := map[string]uint64{}
	for _, ts := range s.Targets {
		m[ts.Target.String()] = ts.OtherIngress
	}
	return m
}

// TestLabStrictIngressDiagnostic: strict ingress on a host with Linux's
// default ARP settings is reported, naming the sysctls to set.
func TestLabStrictIngressDiagnostic(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	d, err := lab.NewIPMonDual("", 32, false)
	require.NoError(t, err)
	p := openIn(t, d.Node, Config{StrictIngress: true})
	require.NoError(t, p.Add(Target{Addr: d.ServerAddr4, Interface: "eth3"}))
	diags := p.Snapshot().Diagnostics
	require.Len(t, diags, 1)
	require.True(t, strings.Contains(diags[0], "net.ipv4.conf.eth3.arp_ignore=1") &&
		strings.Contains(diags[0], "net.ipv4.conf.eth3.arp_announce=2"), diags[0])
}
