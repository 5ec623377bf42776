package failover

import (
	"context"
	"net/netip"

	"github.com/netpulse/netpulse"
)

// An Actuator carries out the engine's decisions. The engine calls it from
// a single goroutine, never concurrently, in this order for a move: add the
// addresses on the new member, remove them from every other member of the
// group, steer the return path, then announce (the first round at once, the
// others on the engine's schedule).
//
// Every method must be idempotent: the engine retries a failed move with
// backoff by calling the whole sequence again. An error leaves the engine's
// idea of where the addresses are unchanged, so an address is never given
// up before it is in place elsewhere.
//
// NewActuator returns the kernel implementation; failovertest.Recorder is a
// recording fake.
type Actuator interface {
	// AddAddress puts p on ifc. An address already there is success.
	AddAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error
	// RemoveAddress takes p off ifc. An address (or an interface) that is
	// not there is success.
	RemoveAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error
	// SteerReturn makes traffic sent from the addresses leave through ifc,
	// so that replies do not follow another member's route on the same
	// subnet (which may be dead).
	SteerReturn(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error
	// Announce sends one round of announcements of addrs from ifc:
	// gratuitous ARP for IPv4, unsolicited neighbour advertisement for IPv6.
	Announce(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error
}
