package netpulse

// Markers are the numbers by which netpulse marks what it puts into the
// kernel, so that it finds its own routes, rules and tables again (after a
// crash too) and an operator can tell them apart. Zero fields take the
// defaults (DefaultMarkers). route.SteererConfig and
// failover.ActuatorConfig take them; two programs in one namespace need
// distinct markers. The README gives /etc/iproute2 lines that name the
// defaults in `ip route` and `ip rule` output.
type Markers struct {
	// RouteProtocol is the rtnetlink protocol of the routes route.Steerer
	// installs ("proto" in `ip route`; default 241, not assigned in
	// rtnetlink.h nor in iproute2's rt_protos).
	RouteProtocol uint8
	// RouteMetric is the metric of the routes route.Steerer installs
	// (default 0x7fff0000): high, so that any other route of the same more
	// specific prefix keeps winning over them.
	RouteMetric uint32
	// SysctlTable is the routing table where route.Steerer leaves a mark
	// for each sysctl it changed (default 0x6e700001). No rule looks it up:
	// its routes never carry traffic.
	SysctlTable uint32
	// ReturnProtocol is the rtnetlink protocol of failover's return-path
	// rules and routes (default 78).
	ReturnProtocol uint8
	// ReturnTableBase is the first of failover's return-path tables: the
	// table of interface index i is ReturnTableBase+i (default 0x4e500000).
	ReturnTableBase uint32
	// RulePriority is the priority of failover's return-path rules
	// (default 1748, before the main table's 32766).
	RulePriority uint32
}

// Default marker values.
const (
	DefaultRouteProtocol   uint8  = 241
	DefaultRouteMetric     uint32 = 0x7fff0000
	DefaultSysctlTable     uint32 = 0x6e700001
	DefaultReturnProtocol  uint8  = 78
	DefaultReturnTableBase uint32 = 0x4e500000
	DefaultRulePriority    uint32 = 1748
)

// WithDefaults returns m with every zero field set to its default.
func (m Markers) WithDefaults() Markers {
	if m.RouteProtocol == 0 {
		m.RouteProtocol = DefaultRouteProtocol
	}
	if m.RouteMetric == 0 {
		m.RouteMetric = DefaultRouteMetric
	}
	if m.SysctlTable == 0 {
		m.SysctlTable = DefaultSysctlTable
	}
	if m.ReturnProtocol == 0 {
		m.ReturnProtocol = DefaultReturnProtocol
	}
	if m.ReturnTableBase == 0 {
		m.ReturnTableBase = DefaultReturnTableBase
	}
	if m.RulePriority == 0 {
		m.RulePriority = DefaultRulePriority
	}
	return m
}
