// Package failover keeps each group's service addresses on a healthy
// member: it moves them from a failed member to a healthy standby
// (Serviceguard's "local switching"), fails back by policy, and reports what
// failed and at which level. A member's health comes from its link-level and
// IP-level evidence (netpulse.Evidence) and the operator's disable flag.
//
// Open(ctx, *Config) starts an Engine. It is a netpulse.Observer: it is fed
// the evidence of each interface (its link state and IP verdict) through
// Observe, by a health.Monitor (Monitor.Feed) that derives it from linkmon
// and ipmon, or by the application. It acts through an Actuator, which it owns
// and closes: a KernelActuator (OpenActuator, or opened by Open when
// Config.Actuator is nil: rtnetlink for addresses and the return path,
// AF_PACKET for gratuitous ARP, an ICMPv6 socket for unsolicited neighbour
// advertisements), failovertest.Recorder in tests. Decisions and health
// changes arrive on every Subscribe channel; Snapshot returns a Status whose
// String is a cmviewcl-like table and which marshals to JSON. Interfaces,
// health, verdicts, failures and reasons are the root package's
// (netpulse.Interface, netpulse.Health, ...).
//
// Health of an interface:
//
//	link evidence says no carrier, admin down or gone  -> link-down (failure link+ip)
//	else IP verdict dead                               -> ip-down   (failure ip_only)
//	else IP verdict alive, or carrier present          -> up
//	else (no evidence)                                 -> unknown
//	disabled by the operator, or by policy after ip-down -> disabled
//
// An unverified or unknown IP verdict (targets that never answered, or no
// verdict yet) does not make an interface fail: health then rests on the
// link. The verdict is shown in the status so that the operator sees it.
//
// A group's addresses live on one member. When that member is not up they
// move to the first member that is up in configured order (the primary,
// then the standbys): added there first, removed from every other member,
// the return path steered, then announced. A member that is not up is never
// chosen, so a standby whose IP path is known dead is never chosen. When no
// member is up the group is subnet-down and nothing is touched: the
// addresses stay where they are (after a move that failed half way, on two
// members, until a member is up again and the move completes). A failed
// action is retried with exponential backoff; the engine
// only considers the addresses moved once every step succeeded, so an
// address is never removed from its holder before it is in place elsewhere.
//
// Errors are of two kinds. A transient failure of an action is retried
// with backoff (ActionErrorEvent.RetryIn). A permanent one (IsPermanent: a
// missing privilege, a missing member, an address held outside the group)
// is reported at once with ActionErrorEvent.Permanent and
// GroupStatus.PermanentError and is not retried on a timer; the engine
// tries again when a member's health changes or the application asks for a
// move. Before a group's addresses are first placed, an Actuator that is a
// ConflictChecker probes for them (the kernel actuator: local interfaces,
// RFC 5227 ARP probe, IPv6 duplicate address detection); later moves check
// the host's own interfaces only, so that a failover never waits for a
// probe.
//
// What the engine put in place it keeps in place: an Actuator that is a
// Verifier is asked every Config.RepairInterval (and at once when a
// DriftHinter hints) whether the active member still holds the addresses
// and the return path, and what was removed behind the engine's back is
// put back (RepairEvent, Counters.Repairs). When a member fails, a
// SelfAnnouncer announces the surviving members' own addresses, so that
// neighbours that learnt them at the dead interface's hardware address
// (ARP flux) reach them again. Members are named: a member renamed away is
// gone (evidence with Index 0 and the link down, as health.Monitor reports
// it), and a device that takes the name is that member.
//
// Failback to the primary after it recovers follows the group's policy:
// auto (after the hold-down and the minimum dwell time), manual
// (Engine.Failback) or never. Failures of the active member always move the
// addresses at once; the dwell time only delays voluntary moves.
package failover
