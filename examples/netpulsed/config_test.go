package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const goodConfig = `netns: /var/run/netns/node
probe: {interval: 1s, timeout: 1s, fail_after: 3, recover_after: 2}
subnets:
  - prefix: 198.18.10.0/24
    interfaces: [eth3, eth2]
    ip_monitor: on
    polling_targets: [198.18.10.100]
    steer_routes: true
    probe: {interval: 10ms}
  - prefix: 2001:db8:10::/64
    interfaces: [eth3, eth2]
    ip_monitor: off
groups:
  - name: web
    primary: eth3
    standbys: [eth2]
    addresses: [198.18.10.50/24, 2001:db8:10::50/64]
    failback: auto
    hold_down: 10s
notify: {exec: /bin/true, timeout: 5s}
metrics: {listen: 127.0.0.1:9310}
control: {socket: /run/netpulsed.sock}
log: {json: true}
`

func TestParseGood(t *testing.T) {
	c, err := parseConfig("good.yaml", []byte(goodConfig))
	require.NoError(t, err)
	require.Equal(t, "/var/run/netns/node", c.NetNS)
	require.Len(t, c.Subnets, 2)
	s := c.Subnets[0]
	require.True(t, s.IPMonitor)
	require.True(t, s.SteerRoutes)
	// The subnet's probe block overrides the interval; the timeout follows
	// it, the counts are inherited.
	require.Equal(t, probeConfig{10 * time.Millisecond, 10 * time.Millisecond, 3, 2}, s.Probe)
	require.False(t, c.Subnets[1].IPMonitor)
	require.Equal(t, probeConfig{time.Second, time.Second, 3, 2}, c.Subnets[1].Probe)
	require.Len(t, s.targets(), 2, "one target out of each interface")
	require.Equal(t, []string{"eth3", "eth2"}, c.Groups[0].members())
	require.Equal(t, 10*time.Second, c.Groups[0].HoldDown)
	require.Equal(t, "127.0.0.1:9310", c.Metrics)
	require.True(t, c.JSON)
	require.Equal(t, 5*time.Second, c.Notify.Timeout)
}

// TestParseErrors: each error is reported with the line and column of the
// offending value or key, all of them in one run.
func TestParseErrors(t *testing.T) {
	bad := `probe: {interval: 0s, fail_after: 0}
subnets:
  - prefix: 198.18.10.1/24
    interfaces: [eth3, eth3]
    colour: blue
    polling_targets: [198.18.10.50, nonsense]
groups:
  - name: web
    primary: eth3
    standbys: [eth2, eth3]
    addresses: [198.18.10.50/24, 198.18.10.77]
    failback: sometimes
    hold_down: 48h
  - name: db
    primary: eth2
    standbys: [eth5]
    addresses: [198.18.10.51/24]
  - name: db
    primary: eth6
    standbys: [eth7]
    addresses: [198.18.10.52/24]
notify: {exec: relative/hook}
metrics: {listen: localhost}
`
	_, err := parseConfig("bad.yaml", []byte(bad))
	require.Error(t, err)
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`bad.yaml:1:19: probe.interval: 0s is out of range [1ms, 1h0m0s]`,
		`bad.yaml:1:35: probe.fail_after: "0" must be a whole number from 1 to 100`,
		`bad.yaml:3:13: prefix: 198.18.10.1/24 has host bits set; the subnet is 198.18.10.0/24`,
		`bad.yaml:4:24: interfaces: eth3 listed twice`,
		`bad.yaml:5:5: unknown key "colour" in subnet (known: prefix, interfaces, ip_monitor, polling_targets, steer_routes, probe)`,
		`bad.yaml:6:37: polling_targets: "nonsense" is not an address`,
		`bad.yaml:11:34: addresses: "198.18.10.77" is not an address with its prefix length, e.g. 198.18.10.50/24`,
		`bad.yaml:12:15: failback: "sometimes" must be auto, manual or never`,
		`bad.yaml:13:16: hold_down: 48h0m0s is out of range [0s, 24h0m0s]`,
		`bad.yaml:10:22: group web: member eth3 listed twice`,
		`bad.yaml:22:16: notify.exec: "relative/hook" must be an absolute path`,
		`bad.yaml:23:19: metrics.listen: "localhost" is not HOST:PORT, e.g. 127.0.0.1:9310`,
		`bad.yaml:15:14: group db: eth2 is already a member of group web`,
		`bad.yaml:18:11: group name db used twice`,
	}
	require.ElementsMatch(t, want, got)
}

func TestParseTargetIsServiceAddress(t *testing.T) {
	cfg := `subnets:
  - prefix: 198.18.10.0/24
    interfaces: [eth3, eth2]
    polling_targets: [198.18.10.50]
groups:
  - {name: web, primary: eth3, standbys: [eth2], addresses: [198.18.10.50/24]}
`
	_, err := parseConfig("t.yaml", []byte(cfg))
	require.EqualError(t, err, "t.yaml:4:23: subnet 198.18.10.0/24: polling target 198.18.10.50 is a service address of group web (a node can always ping itself)")
}

func TestParseNotYAML(t *testing.T) {
	_, err := parseConfig("x.yaml", []byte("groups:\n  - name: [\n"))
	require.Error(t, err)
	require.Regexp(t, `^x\.yaml:\d+:1: not YAML: `, err.Error())
	_, err = parseConfig("e.yaml", nil)
	require.EqualError(t, err, "e.yaml:1:1: empty file: at least one group or subnet is needed")
}
