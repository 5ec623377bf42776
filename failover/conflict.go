package failover

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/netpulse/netpulse"
)

// A ConflictChecker is an Actuator that can tell whether a service address
// is in use outside its group. The engine calls CheckConflict with the
// group's addresses before each move: with probe true before the first
// placement of a group's addresses (the addresses are probed for on
// target's link), with probe false for later moves (only the host's own
// interfaces are checked, so that a failover is never delayed by a probe).
// A conflict is a *ConflictError: the engine reports it as a permanent
// error and does not take the addresses.
type ConflictChecker interface {
	// CheckConflict returns a *ConflictError if one of addrs is on a
	// local interface that is not in members (by name, or by index: a
	// member renamed away), or, with probe set, if a host whose hardware
	// address is not one of the members' answers for it on target's link
	// (IPv4: RFC 5227 ARP probe; IPv6: a duplicate address detection
	// neighbour solicitation). Other errors mean that the check could not
	// be made.
	CheckConflict(ctx context.Context, target netpulse.Interface, addrs []netip.Prefix, members []netpulse.Interface, probe bool) error
}

// ConflictError reports a service address held outside its group. It is
// permanent (IsPermanent).
type ConflictError struct {
	// Address is the service address.
	Address netip.Prefix
	// Interface is the local interface that holds it, when a local
	// interface that is not a member does (zero otherwise).
	Interface netpulse.Interface
	// HardwareAddr is the hardware address of the other host that
	// answered the probe for it (nil for a local holder).
	HardwareAddr net.HardwareAddr
	// Via is the member whose link the probe was sent on (probe only).
	Via netpulse.Interface
}

// Error names the address and its holder.
func (e *ConflictError) Error() string {
	if e.Interface != (netpulse.Interface{}) {
		return fmt.Sprintf("failover: address %v is already on %s, which is not a member of the group", e.Address.Addr(), e.Interface)
	}
	return fmt.Sprintf("failover: address %v is already in use by another host (%v) on the link of %s", e.Address.Addr(), e.HardwareAddr, e.Via)
}
