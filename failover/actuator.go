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
// The engine owns its Actuator: Engine.Close closes it.
//
// OpenActuator returns the kernel implementation; failovertest.Recorder is a
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
	// Close releases what the actuator opened; what it put into the
	// kernel stays. It is idempotent.
	Close() error
}

// KernelActuator is the kernel's Actuator: addresses, return-path rules and
// routes through rtnetlink, gratuitous ARP through an AF_PACKET socket and
// unsolicited neighbour advertisements through a raw ICMPv6 socket, all in
// one network namespace. It is also a Verifier, a DriftHinter, a
// ConflictChecker and a SelfAnnouncer. Its methods are safe for concurrent
// use. Errors wrap the kernel's errno (errors.Is(err, unix.EPERM),
// unix.ENODEV, ...). It needs Linux.
type KernelActuator struct {
	k *kernelActuator
}

var (
	_ Actuator        = (*KernelActuator)(nil)
	_ Verifier        = (*KernelActuator)(nil)
	_ DriftHinter     = (*KernelActuator)(nil)
	_ ConflictChecker = (*KernelActuator)(nil)
	_ SelfAnnouncer   = (*KernelActuator)(nil)
)

// OpenActuator opens a kernel actuator; a nil cfg means defaults. An invalid
// cfg is an error wrapping os.ErrInvalid. It needs CAP_NET_ADMIN
// (addresses, rules, routes) and CAP_NET_RAW (AF_PACKET, raw ICMPv6):
// without either in its effective set it fails at once with an error that
// names the capability and satisfies errors.Is(err, os.ErrPermission). Off
// Linux it returns an error wrapping errors.ErrUnsupported.
//
// ctx bounds the setup (the privilege checks, the namespace); cancelling it
// later has no effect: Close ends the actuator.
func OpenActuator(ctx context.Context, cfg *ActuatorConfig) (*KernelActuator, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := openKernel(c)
	if err != nil {
		return nil, err
	}
	return &KernelActuator{k: k}, nil
}

// Close closes the actuator's sockets and its namespace descriptor, and
// closes the DriftHints channels. It is idempotent. Addresses, rules and
// routes stay. The actuator's other methods then return an error wrapping
// net.ErrClosed.
func (a *KernelActuator) Close() error { return a.k.close() }

// AddAddress implements Actuator. IPv6 addresses get IFA_F_NODAD: the
// address must be usable at once, and it is ours by configuration.
func (a *KernelActuator) AddAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	return a.k.addAddress(ctx, ifc, p)
}

// RemoveAddress implements Actuator. An interface that does not exist, or
// does not hold p, is success. When ifc's name no longer exists and
// ifc.Index is set, p is removed from the device at that index: a member
// renamed away keeps its addresses otherwise.
func (a *KernelActuator) RemoveAddress(ctx context.Context, ifc netpulse.Interface, p netip.Prefix) error {
	return a.k.removeAddress(ctx, ifc, p)
}

// Holders returns the interfaces that hold address p (same address and
// prefix length), in index order. A program uses it at start to tell the
// engine where the addresses already are (GroupConfig.Initial; see Holder).
func (a *KernelActuator) Holders(ctx context.Context, p netip.Prefix) ([]netpulse.Interface, error) {
	return a.k.holders(ctx, p)
}

// SteerReturn implements Actuator: see ActuatorConfig for the rule and
// table it installs. With ActuatorConfig.NoReturnPath it does nothing.
func (a *KernelActuator) SteerReturn(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	return a.k.steerReturn(ctx, ifc, addrs)
}

// Announce implements Actuator: one gratuitous ARP request (RFC 5227
// announcement: sender and target address both the address, target
// hardware address zero, to the broadcast address) per IPv4 address, and
// one unsolicited neighbour advertisement (override flag, target
// link-layer address option, hop limit 255, to ff02::1, from the address
// itself) per IPv6 address.
func (a *KernelActuator) Announce(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) error {
	return a.k.announce(ctx, ifc, addrs)
}

// AnnounceOwn implements SelfAnnouncer: one gratuitous ARP per IPv4
// address and one unsolicited NA per global IPv6 address that ifc holds
// (not tentative, not failed DAD), except those in except.
func (a *KernelActuator) AnnounceOwn(ctx context.Context, ifc netpulse.Interface, except []netip.Prefix) error {
	return a.k.announceOwn(ctx, ifc, except)
}

// Verify implements Verifier: it lists the addresses of the namespace
// (missing ones are reported) and, for each address that is present, asks
// the kernel which route a packet from it to its subnet would take (`ip
// route get SUBNET-HOST from ADDR fibmatch`): the return path is complete
// when that is the on-link route in ifc's return table.
func (a *KernelActuator) Verify(ctx context.Context, ifc netpulse.Interface, addrs []netip.Prefix) (Drift, error) {
	return a.k.verify(ctx, ifc, addrs)
}

// DriftHints implements DriftHinter: a hint arrives whenever an address,
// or a rule pointing into a return table (Markers.ReturnTableBase onward),
// is deleted in the namespace, and a Lost hint when notifications were
// lost. The channel is closed once ctx is done or the actuator is closed,
// or at once if the notifications cannot be followed (then the engine
// verifies on its RepairInterval only).
func (a *KernelActuator) DriftHints(ctx context.Context) <-chan DriftHint {
	return a.k.driftHints(ctx)
}

// Sweep removes the return-path rules (priority Markers.RulePriority or
// protocol Markers.ReturnProtocol, pointing into the return tables) whose
// source is not one of keep, and the marked routes of return tables that no
// remaining rule points to: what an earlier run left behind for addresses
// it no longer manages. A program calls it once at start, before the
// engine. It returns how many rules and routes it removed.
func (a *KernelActuator) Sweep(ctx context.Context, keep []netip.Prefix) (int, error) {
	return a.k.sweep(ctx, keep)
}

// CheckConflict implements ConflictChecker. The local check is one dump of
// the namespace's addresses: an address of addrs on a device that is not a
// member is a conflict. A device at a member's last known index (a member
// renamed away) is no conflict: RemoveAddress takes the address off it.
//
// The probe (ActuatorConfig.ConflictProbes probes, ConflictProbeInterval
// apart, answers awaited one interval after the last) is sent on target's
// link from its hardware address: an RFC 5227 ARP probe for IPv4, a
// duplicate address detection neighbour solicitation for IPv6. Answers
// from the members' own hardware addresses do not count.
func (a *KernelActuator) CheckConflict(ctx context.Context, target netpulse.Interface, addrs []netip.Prefix, members []netpulse.Interface, probe bool) error {
	return a.k.checkConflict(ctx, target, addrs, members, probe)
}
