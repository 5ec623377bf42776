package netpulse_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netpulse/netpulse"
)

// textEnum is what every vocabulary enum is: it prints, marshals and
// unmarshals as words.
type textEnum interface {
	String() string
	MarshalText() ([]byte, error)
}

func TestEnumWords(t *testing.T) {
	cases := []struct {
		v    textEnum
		word string
	}{
		{netpulse.StateUnknown, "unknown"}, {netpulse.StateUp, "up"}, {netpulse.StateDown, "down"},
		{netpulse.VerdictUnknown, "unknown"}, {netpulse.VerdictAlive, "alive"},
		{netpulse.VerdictDead, "dead"}, {netpulse.VerdictUnverified, "unverified"},
		{netpulse.HealthUnknown, "unknown"}, {netpulse.HealthUp, "up"},
		{netpulse.HealthLinkDown, "link-down"}, {netpulse.HealthIPDown, "ip-down"},
		{netpulse.HealthDisabled, "disabled"},
		{netpulse.FailureNone, "none"}, {netpulse.FailureLinkIP, "link+ip"}, {netpulse.FailureIPOnly, "ip_only"},
		{netpulse.ReasonNone, ""}, {netpulse.ReasonLinkDown, "link-down"}, {netpulse.ReasonIPDown, "ip-down"},
		{netpulse.ReasonFailback, "failback"}, {netpulse.ReasonManual, "manual"},
		{netpulse.ReasonInitial, "initial"}, {netpulse.ReasonLinkUp, "link-up"},
		{netpulse.ReasonIPUp, "ip-up"}, {netpulse.ReasonEnabled, "enabled"},
		{netpulse.ReasonDisabled, "disabled"}, {netpulse.ReasonRecovered, "recovered"},
		{netpulse.ReasonRemoved, "removed"}, {netpulse.ReasonReconciled, "reconciled"},
		{netpulse.ReasonRestored, "restored"}, {netpulse.ReasonFailing, "failing"},
		{netpulse.ReasonWorking, "working"},
	}
	for _, c := range cases {
		require.Equal(t, c.word, c.v.String())
		b, err := c.v.MarshalText()
		require.NoError(t, err)
		require.Equal(t, c.word, string(b))
	}
	// Out-of-range values print their number and refuse to marshal.
	require.Equal(t, "State(9)", netpulse.State(9).String())
	_, err := netpulse.Reason(200).MarshalText()
	require.Error(t, err)
}

func TestEnumJSONRoundTrip(t *testing.T) {
	type rec struct {
		Link    netpulse.State
		IP      netpulse.Verdict
		Health  netpulse.Health
		Failure netpulse.Failure
		Reason  netpulse.Reason
	}
	in := rec{netpulse.StateDown, netpulse.VerdictUnverified, netpulse.HealthLinkDown, netpulse.FailureLinkIP, netpulse.ReasonWorking}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"Link":"down","IP":"unverified","Health":"link-down","Failure":"link+ip","Reason":"working"}`, string(b))
	var out rec
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, in, out)
	require.Error(t, json.Unmarshal([]byte(`{"Link":"sideways"}`), &out))
}

// TestEvidenceHealth is the one meaning of health: link down wins, a dead
// IP path with the link not down is an IP-only failure, unverified is no
// evidence.
func TestEvidenceHealth(t *testing.T) {
	cases := []struct {
		link netpulse.State
		ip   netpulse.Verdict
		h    netpulse.Health
		f    netpulse.Failure
	}{
		{netpulse.StateUnknown, netpulse.VerdictUnknown, netpulse.HealthUnknown, netpulse.FailureNone},
		{netpulse.StateUp, netpulse.VerdictUnknown, netpulse.HealthUp, netpulse.FailureNone},
		{netpulse.StateUp, netpulse.VerdictAlive, netpulse.HealthUp, netpulse.FailureNone},
		{netpulse.StateUp, netpulse.VerdictUnverified, netpulse.HealthUp, netpulse.FailureNone},
		{netpulse.StateUp, netpulse.VerdictDead, netpulse.HealthIPDown, netpulse.FailureIPOnly},
		{netpulse.StateUnknown, netpulse.VerdictDead, netpulse.HealthIPDown, netpulse.FailureIPOnly},
		{netpulse.StateUnknown, netpulse.VerdictAlive, netpulse.HealthUp, netpulse.FailureNone},
		{netpulse.StateUnknown, netpulse.VerdictUnverified, netpulse.HealthUnknown, netpulse.FailureNone},
		{netpulse.StateDown, netpulse.VerdictAlive, netpulse.HealthLinkDown, netpulse.FailureLinkIP},
		{netpulse.StateDown, netpulse.VerdictDead, netpulse.HealthLinkDown, netpulse.FailureLinkIP},
	}
	for _, c := range cases {
		e := netpulse.Evidence{Link: c.link, IP: c.ip}
		require.Equal(t, c.h, e.Health(), "%v/%v", c.link, c.ip)
		require.Equal(t, c.f, e.Failure(), "%v/%v", c.link, c.ip)
	}
	require.Equal(t, netpulse.StateUp, netpulse.VerdictAlive.State())
	require.Equal(t, netpulse.StateDown, netpulse.VerdictDead.State())
	require.Equal(t, netpulse.StateUnknown, netpulse.VerdictUnverified.State())
}

func TestInterfaceString(t *testing.T) {
	require.Equal(t, "eth2", netpulse.Interface{Index: 3, Name: "eth2"}.String())
	require.Equal(t, "#7", netpulse.Interface{Index: 7}.String())
	require.Equal(t, "", netpulse.Interface{}.String())
}

func TestMarkersDefaults(t *testing.T) {
	d := netpulse.Markers{}.WithDefaults()
	require.Equal(t, netpulse.Markers{
		RouteProtocol: 241, RouteMetric: 0x7fff0000, SysctlTable: 0x6e700001,
		ReturnProtocol: 78, ReturnTableBase: 0x4e500000, RulePriority: 1748,
	}, d)
	m := netpulse.Markers{RouteProtocol: 200, RulePriority: 90}.WithDefaults()
	require.Equal(t, uint8(200), m.RouteProtocol)
	require.Equal(t, uint32(90), m.RulePriority)
	require.Equal(t, netpulse.DefaultReturnTableBase, m.ReturnTableBase)
}

func TestEventsTime(t *testing.T) {
	now := time.Now()
	var evs = []netpulse.Event{
		&netpulse.ConditionEvent{Time: now, Condition: netpulse.Condition{Err: errors.New("x")}, Reason: netpulse.ReasonFailing},
		&netpulse.DropEvent{Time: now, Count: 3},
	}
	for _, ev := range evs {
		require.Equal(t, now, ev.EventTime())
	}
}
