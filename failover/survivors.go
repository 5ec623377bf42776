package failover

import (
	"context"
	"net/netip"
	"time"

	"github.com/netpulse/netpulse"
)

// A SelfAnnouncer is an Actuator that can announce an interface's own
// addresses (those it holds besides the service addresses).
//
// Why: with Linux's default ARP sysctls (arp_ignore=0) any interface
// answers ARP for any of the host's addresses, so a neighbour may have
// learnt a standby's own address at the primary's hardware address (ARP
// flux). When the primary fails, the replies to the standby's own address
// (its probes included) keep going to the dead NIC or path, and the
// standby looks dead too. When a member of a group fails (link-down, or
// ip-down: its path is dead with carrier up), the engine therefore
// announces the surviving members' own addresses from their own
// interfaces, the same number of rounds as after a move
// (GroupConfig.AnnounceCount, AnnounceInterval), after the move's first
// announcement. It does the same after every move between members: a
// member that gave the service addresses up may have no address of its own
// left, and the kernel then resolves its neighbours with another member's
// own address as ARP sender, pointing their entries for that address at
// the wrong NIC.
type SelfAnnouncer interface {
	// AnnounceOwn sends one round of announcements (gratuitous ARP,
	// unsolicited NA) of the global addresses ifc holds, except those in
	// except.
	AnnounceOwn(ctx context.Context, ifc netpulse.Interface, except []netip.Prefix) error
}

// survivorsLost records that a member of g failed (lost; nil after a move
// between members): the own addresses of its members that are up are
// announced.
func (e *Engine) survivorsLost(g *group, lost *member, now time.Time) {
	if e.selfAnn == nil || g.cfg.AnnounceCount <= 0 {
		return
	}
	g.ownLost, g.own = lost, rounds{left: g.cfg.AnnounceCount, next: now}
}

// announceSurvivors sends the due round of the survivors' own
// announcements; it runs after decide and the move's announcement.
func (e *Engine) announceSurvivors(g *group, now time.Time) {
	if !g.own.take(now, g.cfg.AnnounceInterval) {
		return
	}
	for _, m := range g.members {
		if m == g.ownLost || m.health != netpulse.HealthUp {
			continue
		}
		e.counters.SurvivorAnnouncements++
		if err := e.selfAnn.AnnounceOwn(e.ctx, m.ifc(), g.cfg.Addresses); err != nil && e.ctx.Err() == nil {
			e.counters.AnnounceErrors++
			e.emit(&ActionErrorEvent{Time: now, Group: g.cfg.Name, Op: OpAnnounceOwn, Interface: m.ifc(), Err: err, Permanent: IsPermanent(err)})
		}
	}
}
