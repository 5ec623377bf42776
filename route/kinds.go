package route

import (
	"fmt"
	"os"
	"strconv"
)

// Type is a kernel route type (rtm_type, RTN_*).
type Type uint8

// Route types (include/uapi/linux/rtnetlink.h), printed as iproute2 names
// them.
const (
	TypeUnspec      Type = 0  // RTN_UNSPEC
	TypeUnicast     Type = 1  // RTN_UNICAST: a gateway or direct route
	TypeLocal       Type = 2  // RTN_LOCAL: accept locally
	TypeBroadcast   Type = 3  // RTN_BROADCAST: accept locally as broadcast, send as broadcast
	TypeAnycast     Type = 4  // RTN_ANYCAST: accept locally as broadcast, send as unicast
	TypeMulticast   Type = 5  // RTN_MULTICAST: a multicast route
	TypeBlackhole   Type = 6  // RTN_BLACKHOLE: drop
	TypeUnreachable Type = 7  // RTN_UNREACHABLE: the destination is unreachable
	TypeProhibit    Type = 8  // RTN_PROHIBIT: administratively prohibited
	TypeThrow       Type = 9  // RTN_THROW: not in this table
	TypeNAT         Type = 10 // RTN_NAT: translate this address
	TypeXResolve    Type = 11 // RTN_XRESOLVE: use an external resolver
)

var typeNames = [...]string{"none", "unicast", "local", "broadcast", "anycast", "multicast",
	"blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"}

// String returns iproute2's word for t ("unicast", "blackhole"...), or
// its number when it has none.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return strconv.Itoa(int(t))
}

// MarshalText returns t.String().
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := parseName(b, typeNames[:], "type")
	if err != nil {
		return err
	}
	*t = Type(v)
	return nil
}

// Protocol says who installed a route (rtm_protocol, RTPROT_*).
type Protocol uint8

// Route protocols (include/uapi/linux/rtnetlink.h), printed as iproute2
// names them in its rt_protos table.
const (
	ProtocolUnspec     Protocol = 0   // RTPROT_UNSPEC
	ProtocolRedirect   Protocol = 1   // RTPROT_REDIRECT: an ICMP redirect (unused)
	ProtocolKernel     Protocol = 2   // RTPROT_KERNEL: added by the kernel (prefix routes)
	ProtocolBoot       Protocol = 3   // RTPROT_BOOT: added at boot or by `ip route` without proto
	ProtocolStatic     Protocol = 4   // RTPROT_STATIC: added by an administrator
	ProtocolGated      Protocol = 8   // RTPROT_GATED
	ProtocolRA         Protocol = 9   // RTPROT_RA: an IPv6 router advertisement
	ProtocolMRT        Protocol = 10  // RTPROT_MRT
	ProtocolZebra      Protocol = 11  // RTPROT_ZEBRA
	ProtocolBird       Protocol = 12  // RTPROT_BIRD
	ProtocolDNRouted   Protocol = 13  // RTPROT_DNROUTED
	ProtocolXORP       Protocol = 14  // RTPROT_XORP
	ProtocolNTK        Protocol = 15  // RTPROT_NTK
	ProtocolDHCP       Protocol = 16  // RTPROT_DHCP
	ProtocolKeepalived Protocol = 18  // RTPROT_KEEPALIVED
	ProtocolBabel      Protocol = 42  // RTPROT_BABEL
	ProtocolOpenR      Protocol = 99  // RTPROT_OPENR
	ProtocolBGP        Protocol = 186 // RTPROT_BGP
	ProtocolISIS       Protocol = 187 // RTPROT_ISIS
	ProtocolOSPF       Protocol = 188 // RTPROT_OSPF
	ProtocolRIP        Protocol = 189 // RTPROT_RIP
	ProtocolEIGRP      Protocol = 192 // RTPROT_EIGRP
)

var protocolNames = func() []string {
	n := make([]string, 193)
	for p, s := range map[Protocol]string{
		ProtocolUnspec: "unspec", ProtocolRedirect: "redirect", ProtocolKernel: "kernel", ProtocolBoot: "boot",
		ProtocolStatic: "static", ProtocolGated: "gated", ProtocolRA: "ra", ProtocolMRT: "mrt",
		ProtocolZebra: "zebra", ProtocolBird: "bird", ProtocolDNRouted: "dnrouted", ProtocolXORP: "xorp",
		ProtocolNTK: "ntk", ProtocolDHCP: "dhcp", ProtocolKeepalived: "keepalived",
		ProtocolBabel: "babel", ProtocolOpenR: "openr", ProtocolBGP: "bgp", ProtocolISIS: "isis",
		ProtocolOSPF: "ospf", ProtocolRIP: "rip", ProtocolEIGRP: "eigrp",
	} {
		n[p] = s
	}
	return n
}()

// String returns iproute2's word for p ("kernel", "static"...), or its
// number when it has none (the Steerer's default protocol,
// netpulse.DefaultRouteProtocol, prints "241").
func (p Protocol) String() string {
	if int(p) < len(protocolNames) && protocolNames[p] != "" {
		return protocolNames[p]
	}
	return strconv.Itoa(int(p))
}

// MarshalText returns p.String().
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (p *Protocol) UnmarshalText(b []byte) error {
	v, err := parseName(b, protocolNames, "protocol")
	if err != nil {
		return err
	}
	*p = Protocol(v)
	return nil
}

// Scope is the distance to a route's destination or an address's reach
// (rtm_scope, ifa_scope, RT_SCOPE_*).
type Scope uint8

// Scopes (include/uapi/linux/rtnetlink.h), printed as iproute2 names them.
const (
	ScopeUniverse Scope = 0   // RT_SCOPE_UNIVERSE: "global"
	ScopeSite     Scope = 200 // RT_SCOPE_SITE
	ScopeLink     Scope = 253 // RT_SCOPE_LINK: on link
	ScopeHost     Scope = 254 // RT_SCOPE_HOST: this host
	ScopeNowhere  Scope = 255 // RT_SCOPE_NOWHERE: no destination
)

var scopeNames = func() []string {
	n := make([]string, 256)
	n[ScopeUniverse], n[ScopeSite], n[ScopeLink], n[ScopeHost], n[ScopeNowhere] = "global", "site", "link", "host", "nowhere"
	return n
}()

// String returns iproute2's word for s ("global", "link"...), or its
// number when it has none.
func (s Scope) String() string {
	if scopeNames[s] != "" {
		return scopeNames[s]
	}
	return strconv.Itoa(int(s))
}

// MarshalText returns s.String().
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := parseName(b, scopeNames, "scope")
	if err != nil {
		return err
	}
	*s = Scope(v)
	return nil
}

// parseName returns the index of b in names, or b as a decimal uint8.
func parseName(b []byte, names []string, what string) (uint8, error) {
	s := string(b)
	for i, n := range names {
		if n != "" && n == s {
			return uint8(i), nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("route: unknown %s %q: %w", what, s, os.ErrInvalid)
	}
	return uint8(v), nil
}
