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
func (t Type) String() string { return kindName(typeNames[:], uint8(t)) }

// MarshalText returns t.String().
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (t *Type) UnmarshalText(b []byte) error {
	return parseName(b, typeNames[:], t, "type")
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

var protocolNames = [...]string{
	ProtocolUnspec: "unspec", ProtocolRedirect: "redirect", ProtocolKernel: "kernel", ProtocolBoot: "boot",
	ProtocolStatic: "static", ProtocolGated: "gated", ProtocolRA: "ra", ProtocolMRT: "mrt",
	ProtocolZebra: "zebra", ProtocolBird: "bird", ProtocolDNRouted: "dnrouted", ProtocolXORP: "xorp",
	ProtocolNTK: "ntk", ProtocolDHCP: "dhcp", ProtocolKeepalived: "keepalived",
	ProtocolBabel: "babel", ProtocolOpenR: "openr", ProtocolBGP: "bgp", ProtocolISIS: "isis",
	ProtocolOSPF: "ospf", ProtocolRIP: "rip", ProtocolEIGRP: "eigrp",
}

// String returns iproute2's word for p ("kernel", "static"...), or its
// number when it has none (the Steerer's default protocol,
// netpulse.DefaultRouteProtocol, prints "241").
func (p Protocol) String() string { return kindName(protocolNames[:], uint8(p)) }

// MarshalText returns p.String().
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (p *Protocol) UnmarshalText(b []byte) error {
	return parseName(b, protocolNames[:], p, "protocol")
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

var scopeNames = [...]string{ScopeUniverse: "global", ScopeSite: "site", ScopeLink: "link",
	ScopeHost: "host", ScopeNowhere: "nowhere"}

// String returns iproute2's word for s ("global", "link"...), or its
// number when it has none.
func (s Scope) String() string { return kindName(scopeNames[:], uint8(s)) }

// MarshalText returns s.String().
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts iproute2's word or a decimal number; anything
// else is an error wrapping os.ErrInvalid.
func (s *Scope) UnmarshalText(b []byte) error {
	return parseName(b, scopeNames[:], s, "scope")
}

// kindName returns v's iproute2 word, or its number when it has none.
func kindName(names []string, v uint8) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return strconv.Itoa(int(v))
}

// parseName sets *v to the value whose word is b, or to b as a decimal
// uint8.
func parseName[T ~uint8](b []byte, names []string, v *T, what string) error {
	s := string(b)
	for i, n := range names {
		if n != "" && n == s {
			*v = T(i)
			return nil
		}
	}
	u, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return fmt.Errorf("route: unknown %s %q: %w", what, s, os.ErrInvalid)
	}
	*v = T(u)
	return nil
}
