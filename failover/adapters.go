package failover

import (
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
)

// LinkEvidenceFrom converts a linkmon state to link evidence. Carrier is
// linkmon's reported carrier (after its delays and damping), so a damped
// link counts as down. The time is the state's last change.
func LinkEvidenceFrom(s linkmon.State) LinkEvidence {
	return LinkEvidence{
		Interface: s.Name,
		Index:     s.Index,
		Present:   s.Present,
		AdminUp:   s.AdminUp,
		Carrier:   s.Carrier && !s.Damped,
		Time:      s.Changed,
	}
}

// RenamedAway returns, for a linkmon event whose link changed its name,
// the link evidence that the old name is gone; ok is false for other
// events.
func RenamedAway(ev *linkmon.LinkEvent) (LinkEvidence, bool) {
	old := ev.Previous.Name
	if old == "" || old == ev.State.Name {
		return LinkEvidence{}, false
	}
	t := ev.State.Changed
	if t.IsZero() {
		t = ev.Time
	}
	return LinkEvidence{Interface: old, Index: ev.Previous.Index, Present: false, Time: t}, true
}

// IPEvidenceFrom converts an ipmon verdict event (*ipmon.VerdictEvent) to
// IP evidence; ok is false for other events. ipmon already applies the one
// meaning of dead (a dead verdict reached only on targets that never
// answered is unverified), so the verdict is taken as it is.
func IPEvidenceFrom(ev netpulse.Event) (IPEvidence, bool) {
	v, ok := ev.(*ipmon.VerdictEvent)
	if !ok {
		return IPEvidence{}, false
	}
	return IPEvidence{Interface: v.Interface.Name, Verdict: v.Verdict, Time: v.Time}, true
}

// FollowLinks feeds every link event of a linkmon subscription (e.g.
// Watcher.Subscribe; its other events are skipped) into the engine, from a goroutine the engine owns. It
// runs until the channel is closed or the engine is closed; Close waits
// for it. It returns an error wrapping net.ErrClosed if the engine is closed.
//
// Members are named: a link renamed away from a member's name (the event's
// Previous has the old name) makes that member gone (Present false: link
// down, never chosen, its addresses moved if it held them), and a link
// that takes a member's name later is that member.
func (e *Engine) FollowLinks(events <-chan netpulse.Event) error {
	return e.follow(func() bool {
		select {
		case x, ok := <-events:
			if !ok {
				return false
			}
			ev, ok := x.(*linkmon.LinkEvent)
			if !ok {
				return true
			}
			if gone, ok := RenamedAway(ev); ok {
				e.Link(gone)
			}
			e.Link(LinkEvidenceFrom(ev.State))
			return true
		case <-e.ctx.Done():
			return false
		}
	})
}

// FollowIP feeds the verdict events of an ipmon subscription (e.g.
// Poller.Subscribe) into the engine, like FollowLinks.
func (e *Engine) FollowIP(events <-chan netpulse.Event) error {
	return e.follow(func() bool {
		select {
		case ev, ok := <-events:
			if !ok {
				return false
			}
			if ip, ok := IPEvidenceFrom(ev); ok {
				e.IP(ip)
			}
			return true
		case <-e.ctx.Done():
			return false
		}
	})
}

func (e *Engine) follow(next func() bool) error {
	e.followMu.Lock()
	defer e.followMu.Unlock()
	if e.ctx.Err() != nil {
		return errClosed
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for next() {
		}
	}()
	return nil
}
