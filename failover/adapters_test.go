package failover_test

import (
	"net"
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
		verdict netpulse.Verdict
		states  []ipmon.TargetState
		want    netpulse.Verdict
	}{
		{netpulse.VerdictAlive, []ipmon.TargetState{ipmon.TargetUp}, netpulse.VerdictAlive},
		{netpulse.VerdictUnknown, []ipmon.TargetState{ipmon.TargetUnknown}, netpulse.VerdictUnknown},
		{netpulse.VerdictDead, []ipmon.TargetState{ipmon.TargetDown, ipmon.TargetUnverified}, netpulse.VerdictDead},
		// ipmon applies the one meaning of dead itself: a rule failing on
		// targets that never answered is an unverified verdict.
		{netpulse.VerdictUnverified, []ipmon.TargetState{ipmon.TargetUnverified, ipmon.TargetUnverified}, netpulse.VerdictUnverified},
	} {
		ev := &ipmon.VerdictEvent{Time: at, Interface: netpulse.Interface{Name: "eth3"}, Verdict: tc.verdict}
		for _, s := range tc.states {
			ev.Evidence = append(ev.Evidence, ipmon.TargetEvidence{Addr: target, State: s})
		}
		got, ok := failover.IPEvidenceFrom(ev)
		require.True(t, ok)
		require.Equal(t, failover.IPEvidence{Interface: "eth3", Verdict: tc.want, Time: at}, got, "%v %v", tc.verdict, tc.states)
	}
	_, ok := failover.IPEvidenceFrom(&ipmon.TargetEvent{Interface: netpulse.Interface{Name: "eth3"}})
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
		links := make(chan netpulse.Event)
		ips := make(chan netpulse.Event)
		require.NoError(t, r.e.FollowLinks(links))
		require.NoError(t, r.e.FollowIP(ips))
		for _, n := range []string{"eth3", "eth2"} {
			links <- &linkmon.LinkEvent{Initial: true, State: linkmon.State{Name: n, Index: ifIndex(n), Present: true, AdminUp: true, Carrier: true, Changed: time.Now()}}
		}
		synctest.Wait()
		require.Equal(t, []string{"eth3"}, r.holders())
		ips <- &ipmon.TargetEvent{Interface: netpulse.Interface{Name: "eth3"}, State: ipmon.TargetDown}
		ips <- &ipmon.VerdictEvent{Interface: netpulse.Interface{Name: "eth3"}, Verdict: netpulse.VerdictDead,
			Evidence: []ipmon.TargetEvidence{{State: ipmon.TargetDown}}, Time: time.Now()}
		synctest.Wait()
		require.Equal(t, []string{"eth2"}, r.holders())
		require.Equal(t, netpulse.HealthIPDown, r.member("eth3").Health)
		close(links)
		// The engine's Close stops the IP follower, whose channel stays open.
		r.close()
		require.ErrorIs(t, r.e.FollowLinks(links), net.ErrClosed)
	})
}
