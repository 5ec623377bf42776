// Package ipmon tests each interface's own IP path: it sends ICMP and
// ICMPv6 echo requests (or ARP probes, or runs BFD sessions) to chosen
// targets out of a named interface, declares a target down after
// consecutive misses and up again after consecutive replies, and decides a
// per-interface verdict over its targets (a netpulse.Verdict). It sees
// what carrier cannot: a dead switch port, VLAN or first-hop router.
//
// # Detection bound
//
// A target that stops answering is declared down at most
//
//	FailAfter x Interval + Timeout
//
// after it stopped (plus scheduling jitter): the first unanswered probe
// leaves at most one Interval after the last answered one, the FailAfter-th
// leaves (FailAfter-1) x Interval later, and its miss is known Timeout after
// it left. With Interval 10 ms, FailAfter 3 and Timeout 10 ms the bound is
// 40 ms. Target.DetectionBound computes it.
//
// # States
//
// A target starts TargetUnknown. One reply makes an unknown or unverified
// target TargetUp; RecoverAfter consecutive replies make a down target up.
// FailAfter consecutive misses make an up target TargetDown, and an unknown
// target down if it has answered since it was added, else
// TargetUnverified: a target that never answered is reported as such
// instead of as a silent "down". A send the
// kernel refuses because the path is dead (no route, network unreachable
// or down) is a miss; one it refuses only for lack of local buffer space
// (EAGAIN, ENOBUFS: local congestion) is neither a miss nor a reply and is
// counted apart (Snapshot.LocalSendErrors). A miss of a probe older
// than one already answered (Timeout > Interval) counts as loss but does
// not break a run of replies.
//
// # What counts as a reply
//
// Every probe carries the Poller's echo ID, a sequence number and a 20-byte
// payload: the target's slot and generation, the 32-bit probe number and an
// 8-byte authenticator of them (SipHash-2-4 under a random per-Poller key),
// different for every probe, so that seeing one probe or reply does not let
// anyone forge a reply to another. A classic BPF filter on each receive
// socket passes only echo replies of the right length with our ID, so that
// a flood of foreign packets never reaches user space; what passes is
// decoded and authenticated before any lock is taken. A reply counts only
// if it is an echo reply with that ID and a valid authenticator, from the
// target's address, to a probe that was sent and is still waiting (not
// timed out, not answered). Everything else is dropped (foreign packets in
// the kernel, uncounted) and counted in Snapshot.Drops by reason: foreign
// (another ID: another process's pinger, where a datagram socket lets one
// through), spoofed (our ID but a wrong authenticator, source or sequence),
// late, duplicate, malformed, wrong interface. This is what
// keeps two interfaces on one subnet from vouching for each other.
//
// # Ingress: the ARP flux rule
//
// With Linux's default ARP settings (arp_ignore=0, arp_announce=0,
// arp_filter=0), two interfaces on one subnet answer ARP for each other's
// addresses, so the reply to a probe sent out of eth3 may arrive on eth2. A
// socket bound to eth3 would never see it and eth3 would look dead. So
// replies are received on one socket per family that is not bound to an
// interface, and the interface a reply arrived on is read from IP_PKTINFO /
// IPV6_PKTINFO. By default a reply counts whatever interface it arrives on:
// what is tested is the probe's egress path (replies that arrived on
// another interface are counted in TargetStats.OtherIngress). With
// Config.StrictIngress a reply must arrive on the probe's interface, which
// also catches a path that is dead inbound only; use it on hosts set up
// with arp_ignore=1 and arp_announce=2 (or arp_filter=1). When strict
// ingress is asked for on an interface whose settings allow ARP flux, the
// Poller reports a diagnostic naming the sysctls to set. Without strict
// ingress, the first reply of an interface that arrives on another one
// leaves one diagnostic (and one log warning) saying that ARP flux is
// happening, with the same sysctls.
//
// # Carrier return
//
// Carrier loss flushes an interface's neighbour entries, and the probes
// sent while it lasts leave INCOMPLETE entries whose solicitations the
// kernel retries only every retrans_time (1 s). When an interface with
// targets gets its carrier back, the Poller deletes its INCOMPLETE and
// FAILED entries so that the next probe solicits at once: recovery then
// takes RecoverAfter intervals, not up to a second more. This needs
// CAP_NET_ADMIN; without it a diagnostic says so, once.
//
// # Sockets and scheduling
//
// Raw mode (CAP_NET_RAW): one raw socket per (interface, family) bound to
// the interface (SO_BINDTOIFINDEX) sends the probes of every target on that
// interface, and receives nothing (a one-instruction BPF filter); one
// unbound raw socket per family with a kernel ICMP filter and a BPF filter
// (echo replies of our ID and length only) receives. Unprivileged mode (the group in net.ipv4.ping_group_range,
// which also gates ICMPv6): one datagram ICMP socket per family; the kernel
// sets the echo ID to the socket's port and hands it only the replies
// carrying it, and would hand a socket bound to eth3 no reply arriving on
// eth2, so the socket is not bound and every probe names its egress
// interface in an IP_PKTINFO / IPV6_PKTINFO control message, which pins the
// route's output interface exactly as SO_BINDTODEVICE does. In both modes
// the probe leaves from the interface's own address, or Target.Source.
//
// # Links and addresses
//
// The Poller keeps a table of the namespace's links and addresses from the
// rtnetlink notifications it subscribes to (subscribed before the first
// dump; dumped again after lost notifications), so that Add reads it
// instead of dumping. On every change it re-checks each target: its
// interface recreated under the same name (the target moves to it), its
// source address (an echo probe always leaves from an address of its own
// interface, so the reply tests that interface's path; an interface with
// none holds the target: HoldNoSource), and whether its address has become
// local (HoldLocal: a node can always reach itself). A held target is not
// probed and its state is unknown; it is probed again when the reason goes
// away. A Poller that cannot follow the notifications says so with a
// *netpulse.ConditionEvent (and Snapshot.Condition).
//
// One goroutine drives all targets from a heap ordered by each target's
// next deadline (send or timeout); first sends are spread at random across
// the interval, so 10,000 targets added at once do not send in a burst.
// The same goroutine reads the replies (recvmmsg, at most 256 a turn, so
// that a flood cannot hold its sends and timeouts back). The send and receive
// paths of echo probes allocate nothing per probe. RTT comes from kernel
// receive timestamps (SO_TIMESTAMPNS) when they agree with the monotonic
// clock.
//
// # Standbys without an address
//
// Two probe kinds test an interface that has no address of its own (a
// standby): ProbeARP sends RFC 5227 ARP probes (sender address 0.0.0.0, so
// no neighbour cache learns anything) through an AF_PACKET socket; ARP has
// no payload, so a reply is matched on the target's address, our hardware
// address and the interface, to the newest probe in flight.
// ProbeLinkLocalEcho sends ICMPv6 echo from the interface's link-local address, so that the
// reply comes back to that interface. Both follow the same state rules.
//
// # BFD sessions
//
// A target of Kind ProbeBFD is a single-hop BFD session (RFC 5880, RFC 5881)
// with the target address, out of the target's interface: the way
// routers, switches and FRR's bfdd test the path to an adjacent system,
// independent of ICMP filtering, and the way two netpulse nodes poll each
// other (one of them Passive). Target.Interval is both the desired minimum
// transmit interval and the required minimum receive interval,
// Target.FailAfter the Detect Mult. The session is the target's state:
// Up while the session is Up, Down once it left Up, Unverified if it never
// came Up within (Detect Mult + 1) x 1 s; verdicts, failover and route use
// it unchanged. Every change of the session state is an event (also one
// that leaves the target state as it is, Down to Init), carrying the
// session state, the local and remote diagnostics, the discriminators and
// the negotiated timers (TargetEvent.BFD, TargetStats.BFD).
//
// What is implemented: control packets over UDP to port 3784 from a source
// port in 49152-65535, TTL / hop limit 255 sent and required on receipt
// (GTSM: IP_MINTTL / IPV6_MINHOPCOUNT in the kernel, checked again from
// the control message), IPv4 and IPv6; per interface and family one socket
// bound to the interface receives on port 3784 and one sends, shared by
// every session on it; the scheduler goroutine drives every session from
// its heap (no goroutine per session); the state machine of RFC 5880 6.8.6
// (AdminDown, Down, Init, Up), discriminators (random, demultiplexed by
// Your Discriminator, else by interface and source address), the timer
// negotiation (transmit interval = max(local desired, remote required),
// detection time = remote Detect Mult x max(local required, remote
// desired)), the 1 s minimum transmit interval while not Up, the Poll
// Sequence for every timer change while Up (an increase of the transmit
// interval and a decrease of the required receive interval take effect
// when the Final arrives; a Final answers a Poll at once), the 75-100%
// transmit jitter (at most 90% with Detect Mult 1), the diagnostic codes,
// the passive role, and AdminDown (diag 7, three copies) sent on Remove and
// Close, so that the peer reports a clean shutdown (FRR's bfdd shows the
// remote diagnostic "administratively down").
//
// Not implemented: authentication (a packet with the A bit is dropped and
// counted, Snapshot.BFD.Auth), Demand mode (the D bit is never sent, a
// peer's is ignored), the Echo function (Required Min Echo RX is sent as
// 0), multihop BFD (RFC 5883), and the Control Plane Independent bit
// (always 0: netpulse runs in user space). The source address is chosen
// as for ProbeEcho, an address of the target's interface itself (Target.Source
// if set), and follows address changes; an interface with none of the
// target's family holds the session (HoldNoSource) until it gets one.
//
// # Verdicts
//
// Each interface's verdict over its targets is a netpulse.Verdict, decided
// by its VerdictRule (any, all, quorum N): alive when the rule is met; when
// the rule cannot be met even if every unknown target came up, dead if at
// least one target is down (it answered, then stopped) and unverified if
// only targets that never answered fail it (no evidence either way, so
// nothing acts on it); unknown otherwise. This is netpulse's one meaning
// of dead.
//
// # Events
//
// Subscribe delivers the current state of every target (*TargetEvent) and
// interface (*VerdictEvent), then every change, with the full new state;
// each names its interface as a netpulse.Interface whose index the Poller
// resolved in its own namespace. A slow subscriber blocks nobody: its
// undelivered changes of one target are folded into the latest state,
// which is never lost, and events dropped past its queue's cap are told by
// a *netpulse.DropEvent.
package ipmon
