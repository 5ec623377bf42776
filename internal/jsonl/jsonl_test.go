package jsonl_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var at = time.Date(2026, 11, 22, 5, 6, 7, 8000, time.FixedZone("x", 3600))

const stamp = "2026-11-22T04:06:07.000008000Z"

// line writes v through a Writer and returns the decoded object.
func line(t *testing.T, v any) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jsonl.NewWriter(&buf).Write(v))
	require.True(t, strings.HasSuffix(buf.String(), "}\n"))
	require.Equal(t, 1, strings.Count(buf.String(), "\n"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	return m
}

func TestRecords(t *testing.T) {
	require.Equal(t, map[string]any{
		"time": stamp, "event": "link", "interface": "eth3", "index": 7.0,
		"carrier": false, "admin_up": true, "oper": "lowerlayerdown",
	}, line(t, jsonl.LinkRecord(&linkmon.LinkEvent{Time: at, State: linkmon.State{
		Index: 7, Name: "eth3", AdminUp: true, Oper: linkmon.OperStateLowerLayerDown,
	}})))

	require.Equal(t, map[string]any{
		"time": stamp, "event": "target", "interface": "eth2", "target": "198.18.10.1",
		"state": "down", "rtt_us": 1500.0,
	}, line(t, jsonl.TargetRecord(&ipmon.TargetEvent{Time: at, Interface: netpulse.Interface{Index: 2, Name: "eth2"}, State: ipmon.TargetDown, RTT: 1500 * time.Microsecond,
		Target: ipmon.Target{Addr: netip.MustParseAddr("198.18.10.1"), Interface: "eth2"}})))

	rev := &route.SteerEvent{Time: at, Dst: netip.MustParsePrefix("198.18.10.0/24"),
		Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Previous: netpulse.Interface{Index: 3, Name: "eth3"},
		Reason: netpulse.ReasonLinkDown}
	rr, ok := jsonl.RouteRecord(rev)
	require.True(t, ok)
	require.Equal(t, map[string]any{
		"time": stamp, "event": "route", "dst": "198.18.10.0/24", "interface": "eth2",
		"previous": "eth3", "reason": "link-down",
	}, line(t, rr))
	for _, r := range []netpulse.Reason{netpulse.ReasonIPDown, netpulse.ReasonRecovered} {
		rev.Reason = r
		_, ok := jsonl.RouteRecord(rev)
		require.True(t, ok, r)
	}
	for _, r := range []netpulse.Reason{netpulse.ReasonReconciled, netpulse.ReasonRestored, netpulse.ReasonRemoved} {
		rev.Reason = r
		_, ok := jsonl.RouteRecord(rev)
		require.False(t, ok, "%s is not a steering action of the contract", r)
	}

	require.Equal(t, map[string]any{
		"time": stamp, "event": "health", "interface": "eth3", "state": "ip-down", "failure": "ip_only",
	}, line(t, jsonl.HealthRecord(&failover.HealthEvent{Time: at, Interface: netpulse.Interface{Name: "eth3"},
		From: netpulse.HealthUp, To: netpulse.HealthIPDown, Failure: netpulse.FailureIPOnly})))

	sw := jsonl.SwitchRecords(&failover.SwitchEvent{Time: at, From: netpulse.Interface{Name: "eth3"},
		To: netpulse.Interface{Name: "eth2"}, Reason: netpulse.ReasonLinkDown,
		Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24"), netip.MustParsePrefix("2001:db8::50/64")}})
	require.Len(t, sw, 2)
	require.Empty(t, jsonl.SwitchRecords(&failover.SwitchEvent{Reason: netpulse.ReasonInitial,
		Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.10.50/24")}}), "the initial placement is no move")
	require.Equal(t, map[string]any{
		"time": stamp, "event": "switch", "address": "2001:db8::50/64", "from": "eth3", "to": "eth2", "reason": "link-down",
	}, line(t, sw[1]))
}
