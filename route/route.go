// Package route keeps a view of the kernel's routing state for one network
// namespace, answers which route a destination would take (Lookup), which
// route it should take given the health of each interface (Select), and
// can make the kernel agree (Steerer).
//
// The view is kept current from route, address, link and netconf
// notifications: subscribe first, then dump, then apply. The kernel
// changes nexthop flags (RTNH_F_LINKDOWN, RTNH_F_DEAD) and flushes IPv4
// routes of a downed link without a route notification, so a change of a
// link's carrier is applied to its routes by the view itself, and a
// change of its admin state, a removed address or an
// ignore_routes_with_linkdown change makes it read that interface's
// routes again, at most once per coalescing window; an overrun (ENOBUFS)
// triggers a fresh dump.
//
// Health is supplied by the caller through the small HealthSource
// interface (netpulse.Health by interface index), or as netpulse.Evidence
// to a Steerer (a netpulse.Observer, which a health.Monitor feeds with
// Monitor.Feed): route never imports the packages that produce it.
// Interfaces, states and reasons are the netpulse vocabulary.
package route

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/netpulse/netpulse"
)

// NexthopFlags are the kernel's RTNH_F_* flags of a nexthop.
type NexthopFlags uint32

// Nexthop flags reported by the kernel (include/uapi/linux/rtnetlink.h).
const (
	// FlagDead (RTNH_F_DEAD): the kernel does not use this nexthop. It is
	// reported for an administratively down link and, on a link without
	// carrier, when ignore_routes_with_linkdown is set for it.
	FlagDead NexthopFlags = 0x1
	// FlagOnlink (RTNH_F_ONLINK): the gateway is on link without a
	// matching subnet route.
	FlagOnlink NexthopFlags = 0x4
	// FlagLinkDown (RTNH_F_LINKDOWN): the nexthop's link has no carrier.
	// The kernel still uses it unless ignore_routes_with_linkdown is set.
	FlagLinkDown NexthopFlags = 0x10
)

// Dead reports whether FlagDead is set.
func (f NexthopFlags) Dead() bool { return f&FlagDead != 0 }

// LinkDown reports whether FlagLinkDown is set.
func (f NexthopFlags) LinkDown() bool { return f&FlagLinkDown != 0 }

// String lists the flags as iproute2 prints them.
func (f NexthopFlags) String() string {
	var s []string
	if f.Dead() {
		s = append(s, "dead")
	}
	if f&FlagOnlink != 0 {
		s = append(s, "onlink")
	}
	if f.LinkDown() {
		s = append(s, "linkdown")
	}
	return strings.Join(s, " ")
}

// A Nexthop is one path of a route.
type Nexthop struct {
	// Interface is the output interface (RTA_OIF or rtnh_ifindex).
	Interface netpulse.Interface
	// Gateway is the next router, invalid for a directly connected route.
	Gateway netip.Addr
	// Flags are the kernel's nexthop flags.
	Flags NexthopFlags
	// Weight is the multipath weight (rtnh_hops + 1); 1 for a single path.
	Weight int
}

// Routing tables with a name in iproute2's rt_tables.
const (
	TableDefault uint32 = 253 // RT_TABLE_DEFAULT: "default"
	TableMain    uint32 = 254 // RT_TABLE_MAIN: "main"
	TableLocal   uint32 = 255 // RT_TABLE_LOCAL: "local"
)

// A Route is one kernel route.
type Route struct {
	// Dst is the destination prefix (0.0.0.0/0 or ::/0 for a default route).
	Dst netip.Prefix
	// Table is the routing table (254: main).
	Table uint32
	// Metric is the route's priority: lower is preferred.
	Metric uint32
	// Protocol says who installed the route (RTPROT_*).
	Protocol Protocol
	// Scope is the route's scope (RT_SCOPE_*).
	Scope Scope
	// Type is the route type (RTN_*).
	Type Type
	// Tos is the IPv4 TOS selector; routes with a non-zero TOS only match
	// flows with that TOS and are skipped by Lookup and Select.
	Tos uint8
	// SrcLen is the IPv6 source prefix length of a source-specific route;
	// such routes are skipped by Lookup and Select.
	SrcLen uint8
	// Src is the preferred source address (RTA_PREFSRC), possibly invalid.
	Src netip.Addr
	// Nexthops holds one entry for a single-path route, several for a
	// multipath route, none for a route without an output (blackhole...).
	Nexthops []Nexthop
}

// Interface returns the output interface of the first nexthop.
func (r Route) Interface() netpulse.Interface {
	if len(r.Nexthops) == 0 {
		return netpulse.Interface{}
	}
	return r.Nexthops[0].Interface
}

// Usable reports whether the kernel would use the route for a destination
// it covers, from its type and nexthop flags: a unicast route is usable
// when one of its nexthops is not dead; a blackhole, unreachable or
// prohibit route is "used" (the lookup ends there with an error); a throw
// route or a TOS- or source-specific route is not.
func (r *Route) Usable() bool {
	if r.Tos != 0 || r.SrcLen != 0 {
		return false
	}
	switch r.Type {
	case TypeUnicast:
		for i := range r.Nexthops {
			if !r.Nexthops[i].Flags.Dead() {
				return true
			}
		}
		return false
	case TypeBlackhole, TypeUnreachable, TypeProhibit:
		return true
	}
	return false
}

// String formats the route as `ip route` prints it, on one line:
// the type unless unicast, the destination ("default", or an address
// alone for a host route), via and dev of a single
// path, the table unless main, proto unless boot, scope unless global,
// src and metric when set, the nexthop flags, then each path of a
// multipath route ("nexthop via ... dev ... weight ...").
func (r Route) String() string {
	var b strings.Builder
	if r.Type != TypeUnicast {
		b.WriteString(r.Type.String())
		b.WriteByte(' ')
	}
	switch {
	case r.Dst.Bits() == 0:
		b.WriteString("default")
	case r.Dst.IsSingleIP():
		b.WriteString(r.Dst.Addr().String())
	default:
		b.WriteString(r.Dst.String())
	}
	if len(r.Nexthops) == 1 {
		nh := r.Nexthops[0]
		if nh.Gateway.IsValid() {
			fmt.Fprintf(&b, " via %v", nh.Gateway)
		}
		if nh.Interface.Index != 0 || nh.Interface.Name != "" {
			fmt.Fprintf(&b, " dev %v", nh.Interface)
		}
	}
	switch r.Table {
	case TableMain, 0:
	case TableLocal:
		b.WriteString(" table local")
	case TableDefault:
		b.WriteString(" table default")
	default:
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Protocol != ProtocolBoot {
		fmt.Fprintf(&b, " proto %v", r.Protocol)
	}
	if r.Scope != ScopeUniverse {
		fmt.Fprintf(&b, " scope %v", r.Scope)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %v", r.Src)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if len(r.Nexthops) == 1 && r.Nexthops[0].Flags != 0 {
		fmt.Fprintf(&b, " %v", r.Nexthops[0].Flags)
	}
	if len(r.Nexthops) > 1 {
		for _, nh := range r.Nexthops {
			b.WriteString(" nexthop")
			if nh.Gateway.IsValid() {
				fmt.Fprintf(&b, " via %v", nh.Gateway)
			}
			fmt.Fprintf(&b, " dev %v weight %d", nh.Interface, nh.Weight)
			if nh.Flags != 0 {
				fmt.Fprintf(&b, " %v", nh.Flags)
			}
		}
	}
	return b.String()
}

// sameKey reports whether a and b are the same kernel route: same
// destination, table, TOS, metric, type and paths (flags aside).
func sameKey(a, b *Route) bool {
	if a.Dst != b.Dst || a.Table != b.Table || a.Tos != b.Tos || a.Metric != b.Metric ||
		a.Type != b.Type || a.SrcLen != b.SrcLen || len(a.Nexthops) != len(b.Nexthops) {
		return false
	}
	for i := range a.Nexthops {
		if a.Nexthops[i].Interface.Index != b.Nexthops[i].Interface.Index ||
			a.Nexthops[i].Gateway != b.Nexthops[i].Gateway {
			return false
		}
	}
	return true
}

// Equal reports whether r and o are the same route with the same
// attributes (protocol, scope, source, nexthop flags and weights
// included). Interface names are not compared.
func (r *Route) Equal(o *Route) bool {
	if !sameKey(r, o) || r.Protocol != o.Protocol || r.Scope != o.Scope || r.Src != o.Src {
		return false
	}
	for i := range r.Nexthops {
		if r.Nexthops[i].Flags != o.Nexthops[i].Flags || r.Nexthops[i].Weight != o.Nexthops[i].Weight {
			return false
		}
	}
	return true
}

// An Address is an address assigned to an interface.
type Address struct {
	// Prefix is the address with its prefix length.
	Prefix netip.Prefix
	// Interface is the interface holding it.
	Interface netpulse.Interface
	// Scope is the address scope (RT_SCOPE_*; 0 global, 253 link).
	Scope Scope
	// Flags are the IFA_F_* flags.
	Flags uint32
}

// A Link is an interface as the view knows it.
type Link struct {
	netpulse.Interface
	// Up is IFF_UP (administratively up).
	Up bool
	// Carrier is IFF_LOWER_UP.
	Carrier bool
}

// A HealthSource tells the health of an interface by index. An interface
// is avoided only on evidence: netpulse.HealthLinkDown, HealthIPDown and
// HealthDisabled make it unhealthy; HealthUnknown and HealthUp do not.
// Implementations used with Select on a hot path should not allocate.
type HealthSource interface {
	Health(index int) netpulse.Health
}

// HealthMap is a HealthSource backed by a map; missing interfaces are
// unknown (healthy). It is not safe for concurrent writes.
type HealthMap map[int]netpulse.Health

// Health returns m[index].
func (m HealthMap) Health(index int) netpulse.Health { return m[index] }

// HealthFunc adapts a function to a HealthSource.
type HealthFunc func(index int) netpulse.Health

// Health returns f(index).
func (f HealthFunc) Health(index int) netpulse.Health { return f(index) }

// healthy reports whether h lets an interface be used: not link-down,
// ip-down nor disabled (unknown counts as healthy: route avoids an
// interface only on evidence).
func healthy(h netpulse.Health) bool {
	return h != netpulse.HealthLinkDown && h != netpulse.HealthIPDown && h != netpulse.HealthDisabled
}

// healthReason returns why h makes an interface unhealthy: ReasonLinkDown
// (it explains an IP failure too), ReasonIPDown, ReasonDisabled, or
// ReasonNone when healthy.
func healthReason(h netpulse.Health) netpulse.Reason {
	switch h {
	case netpulse.HealthLinkDown:
		return netpulse.ReasonLinkDown
	case netpulse.HealthIPDown:
		return netpulse.ReasonIPDown
	case netpulse.HealthDisabled:
		return netpulse.ReasonDisabled
	}
	return netpulse.ReasonNone
}

// A Selection is the answer of Select.
type Selection struct {
	// Route is the chosen route (shared: do not modify its Nexthops).
	Route Route
	// Interface is the output interface to use.
	Interface netpulse.Interface
	// Gateway is the next router, invalid when the destination is on link.
	Gateway netip.Addr
	// Src is the source address to use: the route's preferred source, or
	// else an address of the same family on Interface (invalid if none).
	Src netip.Addr
}

// ErrNoHealthyRoute is wrapped by Select's error when no route to the
// destination has a healthy output interface.
var ErrNoHealthyRoute = errors.New("route: no healthy route")

// A Candidate is a route Select considered, with the health that made it
// unusable.
type Candidate struct {
	// Route is the route considered.
	Route Route
	// Health is the health of the output interface of the last nexthop
	// considered.
	Health netpulse.Health
	// Reason is why it was skipped by health or carrier: ReasonLinkDown
	// (by Health or by the kernel's RTNH_F_LINKDOWN flag), ReasonIPDown or
	// ReasonDisabled. It is ReasonNone when Unusable says why.
	Reason netpulse.Reason
	// Unusable is why the kernel itself would not use it, when Reason is
	// ReasonNone: "dead" for a nexthop marked RTNH_F_DEAD without a
	// link-level cause, "not-unicast" for a route of another type.
	Unusable string
}

// why returns the word for the candidate's reason.
func (c *Candidate) why() string {
	if c.Reason != netpulse.ReasonNone {
		return c.Reason.String()
	}
	return c.Unusable
}

// NoHealthyRouteError lists the candidates for Dst and why each was
// skipped. It matches ErrNoHealthyRoute with errors.Is.
type NoHealthyRouteError struct {
	// Dst is the destination asked for.
	Dst netip.Addr
	// Candidates are the routes considered, each with why it was skipped.
	Candidates []Candidate
}

// Error lists each candidate and why it was skipped.
func (e *NoHealthyRouteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route: no healthy route to %v", e.Dst)
	if len(e.Candidates) == 0 {
		b.WriteString(": no route covers it")
	}
	for i := range e.Candidates {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%v: %s", e.Candidates[i].Route, e.Candidates[i].why())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoHealthyRoute) true.
func (e *NoHealthyRouteError) Is(target error) bool { return target == ErrNoHealthyRoute }
