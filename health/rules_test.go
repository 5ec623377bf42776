package health

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/stretchr/testify/require"
)

const (
	sUnknown = netpulse.StateUnknown
	sUp      = netpulse.StateUp
	sDown    = netpulse.StateDown

	vUnknown    = netpulse.VerdictUnknown
	vAlive      = netpulse.VerdictAlive
	vDead       = netpulse.VerdictDead
	vUnverified = netpulse.VerdictUnverified
)

// TestLinkState: up needs carrier and admin up; a damped link counts down,
// admin down is down, and a link that is gone is down with Index 0
// (the rules of failover's former LinkEvidenceFrom and RenamedAway).
func TestLinkState(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *linkmon.LinkEvent
		want netpulse.Evidence
	}{
		{"carrier and admin up", up(3, "eth2"), ev(3, "eth2", sUp, vUnknown)},
		{"no carrier", noCarrier(3, "eth2"), ev(3, "eth2", sDown, vUnknown)},
		{"admin down", link(linkmon.State{Index: 3, Name: "eth2", Present: true, Carrier: true}), ev(3, "eth2", sDown, vUnknown)},
		{"damped", link(linkmon.State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true, Damped: true}), ev(3, "eth2", sDown, vUnknown)},
		{"gone", deleted(3, "eth2"), ev(0, "eth2", sDown, vUnknown)},
	} {
		c.in.Time = time.Unix(1e9, 0)
		in, ok := decodeLink(c.in)
		require.True(t, ok, c.name)
		got := newCore(true, true, []string{"eth2"}).link(in, nil)
		require.Len(t, got, 1, c.name)
		c.want.Time = time.Unix(1e9, 0)
		require.Equal(t, c.want, got[0].Evidence, c.name)
		require.Equal(t, netpulse.Evidence{}, got[0].Previous, c.name)
	}
}

// TestUnverifiedDoesNotFail: the sequence routeguard saw (#11.5): eth3's only
// target never answers (unverified), eth2's answers. eth3 must not be
// ip-down at any point; when its target answers and then stops, it is.
func TestUnverifiedDoesNotFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(3, "eth3"))
		r.links.send(up(2, "eth2"))
		r.ips.send(verdict("eth2", vAlive))
		r.ips.send(verdict("eth3", vUnverified))
		r.ips.send(verdict("eth3", vAlive))
		r.ips.send(verdict("eth3", vDead))
		got := r.observed()
		require.Equal(t, []netpulse.Evidence{
			ev(3, "eth3", sUp, vUnknown),
			ev(2, "eth2", sUp, vUnknown),
			ev(2, "eth2", sUp, vAlive),
			ev(3, "eth3", sUp, vUnverified), // reported, not a failure
			ev(3, "eth3", sUp, vAlive),
			ev(3, "eth3", sUp, vDead), // answered, then stopped: a dead path
		}, got)
		health := make([]netpulse.Health, len(got))
		for i, e := range got {
			health[i] = e.Health()
		}
		require.Equal(t, []netpulse.Health{netpulse.HealthUp, netpulse.HealthUp, netpulse.HealthUp,
			netpulse.HealthUp, netpulse.HealthUp, netpulse.HealthIPDown}, health)
	})
}

// TestVerdictBeforeLink: a verdict about a name whose link was not seen yet
// is held, and applied with the link's first observation.
func TestVerdictBeforeLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.ips.send(verdict("eth3", vDead))
		require.Empty(t, r.observed())
		require.Empty(t, r.m.Snapshot())
		r.links.send(up(7, "eth3"))
		r.links.send(noCarrier(7, "eth3"))
		got := r.observed()
		require.Equal(t, []netpulse.Evidence{
			ev(7, "eth3", sUp, vDead), // the verdict that came first
			ev(7, "eth3", sDown, vDead),
		}, got)
		require.Equal(t, netpulse.HealthIPDown, got[0].Health())
		require.Equal(t, netpulse.HealthLinkDown, got[1].Health())
		require.Equal(t, netpulse.FailureLinkIP, got[1].Failure())
	})
}

// TestVerdictAfterLink: a verdict about a link already seen is applied at
// once; a verdict that changes nothing is no event.
func TestVerdictAfterLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(3, "eth2"))
		r.ips.send(verdict("eth2", vAlive))
		r.ips.send(verdict("eth2", vAlive))
		r.links.send(up(3, "eth2"))
		require.Equal(t, []netpulse.Evidence{ev(3, "eth2", sUp, vUnknown), ev(3, "eth2", sUp, vAlive)}, r.observed())
	})
}

// TestVerdictFollowsName: a verdict outlives the link it was about: a link
// re-created under the same name (new index) or renamed to it gets the
// name's last verdict, because the IP source reports no change; the old
// name of a renamed link is gone (Index 0, link down).
func TestVerdictFollowsName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(5, "eth2"))
		r.ips.send(verdict("eth2", vDead))
		r.links.send(deleted(5, "eth2"))
		r.links.send(up(7, "eth2"))              // re-created
		r.links.send(renamed(7, "eth2", "eth9")) // renamed away
		r.ips.send(verdict("eth2", vAlive))      // about no link now
		r.links.send(up(8, "eth2"))              // another eth2
		require.Equal(t, []netpulse.Evidence{
			ev(5, "eth2", sUp, vUnknown), // no verdict yet
			ev(5, "eth2", sUp, vDead),
			ev(0, "eth2", sDown, vDead),  // gone
			ev(7, "eth2", sUp, vDead),    // the name's last verdict
			ev(0, "eth2", sDown, vDead),  // renamed away: gone
			ev(7, "eth9", sUp, vUnknown), // eth9 has no verdict of its own
			ev(0, "eth2", sDown, vAlive),
			ev(8, "eth2", sUp, vAlive), // the verdict that came while no eth2 existed
		}, r.observed())
		require.Equal(t, []netpulse.Evidence{ev(8, "eth2", sUp, vAlive), ev(7, "eth9", sUp, vUnknown)}, strip(r.m.Snapshot()))
	})
}

// TestRenameEvent: the event of a name's loss by rename carries what the
// name was before.
func TestRenameEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		ch := r.m.Subscribe(t.Context())
		r.links.send(up(4, "eth2"))
		e := (<-ch).(*EvidenceEvent)
		require.True(t, e.Initial == false && e.Previous == netpulse.Evidence{})
		r.links.send(renamed(4, "eth2", "wan0"))
		gone, now := (<-ch).(*EvidenceEvent), (<-ch).(*EvidenceEvent)
		require.Equal(t, ev(0, "eth2", sDown, vUnknown), strip([]netpulse.Evidence{gone.Evidence})[0])
		require.Equal(t, ev(4, "eth2", sUp, vUnknown), strip([]netpulse.Evidence{gone.Previous})[0])
		require.Equal(t, ev(4, "wan0", sUp, vUnknown), strip([]netpulse.Evidence{now.Evidence})[0])
		require.Equal(t, netpulse.Evidence{}, now.Previous)
	})
}

// TestRenamedOutOfSelection: linkmon reports a link renamed away from its
// Config.Interfaces as not present under its new name, the old one in
// Previous: the old name is gone, and the new name, never seen, does not
// appear.
func TestRenamedOutOfSelection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		r.links.send(up(4, "eth2"))
		l := link(linkmon.State{Index: 4, Name: "eth9"})
		l.Previous = linkmon.State{Index: 4, Name: "eth2", Present: true, AdminUp: true, Carrier: true}
		r.links.send(l)
		require.Equal(t, []netpulse.Evidence{ev(4, "eth2", sUp, vUnknown), ev(0, "eth2", sDown, vUnknown)}, r.observed())
		require.Empty(t, r.m.Snapshot())
	})
}

// TestStaleDeletion: the deletion of a link that no longer holds a name
// (its rename or the name's new link was seen first) leaves the name alone;
// a rename away of a link that does not hold the old name neither.
func TestStaleDeletion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		r.links.send(up(5, "eth2"))
		r.links.send(up(7, "eth2")) // the new eth2 seen before the old one's deletion
		r.links.send(deleted(5, "eth2"))
		r.links.send(renamed(5, "eth2", "eth5"))
		require.Equal(t, []netpulse.Evidence{
			ev(5, "eth2", sUp, vUnknown),
			ev(7, "eth2", sUp, vUnknown),
			ev(5, "eth5", sUp, vUnknown),
		}, r.observed())
	})
}

// TestIPOnly: without a link source an interface appears with its first
// verdict, Index 0 and its link unknown; its health is the verdict's.
func TestIPOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, false, true)
		defer r.m.Close()
		r.ips.send(verdict("eth2", vUnverified))
		r.ips.send(verdict("eth2", vAlive))
		r.ips.send(verdict("eth2", vDead))
		got := r.observed()
		require.Equal(t, []netpulse.Evidence{
			ev(0, "eth2", sUnknown, vUnverified),
			ev(0, "eth2", sUnknown, vAlive),
			ev(0, "eth2", sUnknown, vDead),
		}, got)
		require.Equal(t, netpulse.HealthUnknown, got[0].Health(), "unverified is no evidence")
		require.Equal(t, netpulse.HealthUp, got[1].Health())
		require.Equal(t, netpulse.HealthIPDown, got[2].Health())
		require.Equal(t, netpulse.FailureIPOnly, got[2].Failure())
	})
}

// TestIPOnlyIndex: without a link source the index is the one the IP
// source resolved, and follows it (a re-created interface); with a link
// source, the verdict's index is ignored: the link's is authoritative.
func TestIPOnlyIndex(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, false, true)
		defer r.m.Close()
		v := verdict("eth2", vAlive)
		v.Interface.Index = 7
		r.ips.send(v)
		v = verdict("eth2", vAlive)
		v.Interface.Index = 9 // re-created: ipmon resolved the new index
		r.ips.send(v)
		got := r.observed()
		require.Equal(t, []netpulse.Evidence{ev(7, "eth2", sUnknown, vAlive), ev(9, "eth2", sUnknown, vAlive)}, got)
		require.Equal(t, netpulse.HealthUp, got[1].Health())
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(3, "eth2"))
		v := verdict("eth2", vDead)
		v.Interface.Index = 7
		r.ips.send(v)
		require.Equal(t, []netpulse.Evidence{ev(3, "eth2", sUp, vUnknown), ev(3, "eth2", sUp, vDead)}, r.observed())
	})
}

// TestLinkOnly: without an IP source the health is the link's.
func TestLinkOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, false)
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		r.links.send(noCarrier(2, "eth2"))
		got := r.observed()
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown), ev(2, "eth2", sDown, vUnknown)}, got)
		require.Equal(t, netpulse.HealthUp, got[0].Health())
		require.Equal(t, netpulse.HealthLinkDown, got[1].Health())
	})
}

// TestInterfaces: with Config.Interfaces only those names are reported,
// renames included, and a gone interface stays in the snapshot.
func TestInterfaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true, "eth2")
		defer r.m.Close()
		r.links.send(up(2, "eth2"))
		r.links.send(up(3, "eth3"))
		r.ips.send(verdict("eth3", vDead))
		r.links.send(renamed(3, "eth3", "eth2x"))
		r.links.send(renamed(2, "eth2", "eth3"))
		require.Equal(t, []netpulse.Evidence{ev(2, "eth2", sUp, vUnknown), ev(0, "eth2", sDown, vUnknown)}, r.observed())
		require.Equal(t, []netpulse.Evidence{ev(0, "eth2", sDown, vUnknown)}, strip(r.m.Snapshot()))
	})
}

// TestGoneForgotten: without Config.Interfaces, a deleted link whose name
// has no verdict is reported gone, then forgotten (deleted links must not
// pile up); one with a verdict is kept for the name's next link.
func TestGoneForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, true, true)
		defer r.m.Close()
		r.links.send(up(2, "veth0"))
		r.links.send(up(3, "eth3"))
		r.ips.send(verdict("eth3", vAlive))
		r.links.send(deleted(2, "veth0"))
		r.links.send(deleted(3, "eth3"))
		require.Equal(t, []netpulse.Evidence{
			ev(2, "veth0", sUp, vUnknown),
			ev(3, "eth3", sUp, vUnknown),
			ev(3, "eth3", sUp, vAlive),
			ev(0, "veth0", sDown, vUnknown),
			ev(0, "eth3", sDown, vAlive),
		}, r.observed())
		require.Equal(t, []netpulse.Evidence{ev(0, "eth3", sDown, vAlive)}, strip(r.m.Snapshot()))
		r.links.send(up(2, "veth0")) // seen anew: a first event
		require.Equal(t, []netpulse.Evidence{ev(2, "veth0", sUp, vUnknown)}, r.observed())
	})
}
