package failover_test

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
)

func TestIPEvidenceFrom(t *testing.T) {
	at := time.Now()
	target := netip.MustParseAddr("198.18.10.1")
	for _, tc := range []struct {
		verdict ipmon.Verdict
		states  []ipmon.TargetState
		want    netpulse.Verdict
	}{
		{ipmon.VerdictAlive, []ipmon.TargetState{ipmon.Up}, netpulse.VerdictAlive},
		{ipmon.VerdictUnknown, []ipmon.TargetState{ipmon.Unknown}, netpulse.VerdictUnknown},
		{ipmon.VerdictDead, []ipmon.TargetState{ipmon.Down, ipmon.Unverified}, netpulse.VerdictDead},
		{ipmon.VerdictDead, []ipmon.TargetState{ipmon.Unverified, ipmon.Unverified}, netpulse.VerdictUnverified},
	} {
		ev := ipmon.Event{Kind: ipmon.VerdictChanged, At: at, Interface: "eth3", Verdict: tc.verdict}
		for _, s := range tc.states {
			ev.Evidence = append(ev.Evidence, ipmon.Evidence{Addr: target, State: s})
		}
		got, ok := failover.IPEvidenceFrom(ev)
		require.True(t, ok)
		require.Equal(t, failover.IPEvidence{Interface: "eth3", Verdict: tc.want, Time: at}, got, "%v %v", tc.verdict, tc.states)
	}
	_, ok := failover.IPEvidenceFrom(ipmon.Event{Kind: ipmon.TargetChanged, Interface: "eth3"})
	require.False(t, ok, "target changes are not verdicts")
}

func TestLinkEvidenceFrom(t *testing.T) {
	now := time.Now()
	s := linkmon.State{Index: 7, Name: "eth3", Present: true, AdminUp: true, Carrier: true, KernelCarrier: true, Changed: now}
	require.Equal(t, failover.LinkEvidence{Interface: "eth3", Index: 7, Present: true, AdminUp: true, Carrier: true, Time: now},
		failover.LinkEvidenceFrom(s))
	s.Damped = true
	require.False(t, failover.LinkEvidenceFrom(s).Carrier, "a damped link is down")
}

func TestFollow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, failover.GroupConfig{}, nil)
		links := make(chan linkmon.Event)
		ips := make(chan ipmon.Event)
		require.NoError(t, r.e.FollowLinks(links))
		require.NoError(t, r.e.FollowIP(ips))
		for _, n := range []string{"eth3", "eth2"} {
			links <- linkmon.Event{Initial: true, State: linkmon.State{Name: n, Index: ifIndex(n), Present: true, AdminUp: true, Carrier: true, Changed: time.Now()}}
		}
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		ips <- ipmon.Event{Kind: ipmon.TargetChanged, Interface: "eth3", State: ipmon.Down}
		ips <- ipmon.Event{Kind: ipmon.VerdictChanged, Interface: "eth3", Verdict: ipmon.VerdictDead,
			Evidence: []ipmon.Evidence{{State: ipmon.Down}}, At: time.Now()}
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		require.Equal(t, netpulse.HealthIPDown, r.member("eth3").Health)
		close(links)
		// The engine's Close stops the IP follower, whose channel stays open.
		r.close()
		require.ErrorIs(t, r.e.FollowLinks(links), failover.ErrClosed)
	})
}
