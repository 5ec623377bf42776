package failover

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"
)

// Defaults for Config and GroupConfig fields left zero.
const (
	DefaultAnnounceCount    = 5
	DefaultAnnounceInterval = 200 * time.Millisecond
	DefaultHoldDown         = 10 * time.Second
	DefaultMinDwell         = 5 * time.Second
	DefaultRetryMin         = 50 * time.Millisecond
	DefaultRetryMax         = 5 * time.Second
	DefaultSettle           = 500 * time.Millisecond
	DefaultEventQueue       = 4096
	DefaultRepairInterval   = 250 * time.Millisecond
)

// Config configures an Engine; a nil *Config means defaults, which are
// invalid for want of a group. Open validates it (Validate).
type Config struct {
	// Groups are the failover groups. At least one; an interface belongs to
	// at most one group.
	Groups []GroupConfig

	// Actuator carries out moves: a KernelActuator from OpenActuator, a
	// failovertest.Recorder in tests. Nil: Open opens a KernelActuator in
	// NetNS with default settings. Either way the engine owns it:
	// Engine.Close closes it.
	Actuator Actuator

	// NetNS is a file descriptor of the network namespace of the
	// KernelActuator Open opens when Actuator is nil (0: the caller's);
	// see ActuatorConfig.NetNS. It must be 0 when Actuator is set.
	NetNS int

	// RetryMin and RetryMax bound the exponential backoff between attempts
	// of a failed move (defaults DefaultRetryMin, DefaultRetryMax).
	RetryMin, RetryMax time.Duration

	// Settle is how long, after Open, the engine waits for evidence about a
	// group's initial member before it places the addresses elsewhere
	// (default DefaultSettle). A watcher delivers the current state of every
	// link at once, so this only matters when evidence is slow to come.
	Settle time.Duration

	// EventQueue caps the events queued for each slow subscriber
	// (Engine.Subscribe) beyond what it has received (default
	// DefaultEventQueue): past it, events that a later event of the same
	// interface or group follows are dropped first, and the subscriber is
	// told how many with a *netpulse.DropEvent.
	EventQueue int

	// RepairInterval is how often the engine verifies, when the Actuator
	// is a Verifier, that each active member still holds its addresses and
	// return path, and puts back what is missing (default
	// DefaultRepairInterval). A DriftHinter's hint verifies at once.
	RepairInterval time.Duration

	// NoRepair turns verification and repair off.
	NoRepair bool

	// NoSurvivorAnnouncements turns off the announcements of the
	// surviving members' own addresses after a member fails (see
	// SelfAnnouncer).
	NoSurvivorAnnouncements bool

	// Logger receives a line per decision and per failed action; nil is
	// silent.
	Logger *slog.Logger
}

// GroupConfig configures one group: a primary interface, ordered standbys
// and the service addresses that live on whichever member is active.
type GroupConfig struct {
	// Name identifies the group (default: the primary's name).
	Name string

	// Primary is the interface the addresses belong on.
	Primary string

	// Standbys are the standby interfaces, in order of preference.
	Standbys []string

	// Addresses are the service addresses with their prefix lengths (IPv4
	// and IPv6), e.g. 198.18.10.50/24. At least one.
	Addresses []netip.Prefix

	// Initial is the member that holds the addresses when the engine
	// starts (default: the primary). The engine makes sure they are there,
	// and nowhere else in the group, as soon as that member is up.
	Initial string

	// Failback is the failback policy (default FailbackAuto).
	Failback FailbackPolicy

	// HoldDown is how long the primary must have been up before an auto
	// failback (default DefaultHoldDown).
	HoldDown time.Duration

	// NoHoldDown: an auto failback does not wait for the primary to have
	// been up for a while (HoldDown must be 0).
	NoHoldDown bool

	// MinDwell is the minimum time the addresses stay on a member before a
	// voluntary move (failback) takes them away; a failure of the active
	// member always moves them at once (default DefaultMinDwell).
	MinDwell time.Duration

	// NoMinDwell: a voluntary move does not wait for the addresses to have
	// been on their member for a while (MinDwell must be 0).
	NoMinDwell bool

	// DisableOnIPFailure disables a member whose IP path failed (carrier
	// present) until Engine.Enable is called: Serviceguard's behaviour.
	DisableOnIPFailure bool

	// SubnetDownOnIPFailure marks the group subnet-down as soon as any
	// member has an IP-level failure, and then moves nothing. Use it for a
	// two-member group whose IP verdict comes from polling the peer nodes'
	// addresses on the subnet, where an IP failure cannot be pinned on one
	// interface. Without it, the group is subnet-down only when no member
	// is up.
	SubnetDownOnIPFailure bool

	// AnnounceCount is how many rounds of gratuitous ARP / unsolicited NA
	// follow a move, the first at once (default DefaultAnnounceCount).
	AnnounceCount int

	// NoAnnounce: no announcement follows a move (AnnounceCount must be 0).
	NoAnnounce bool

	// AnnounceInterval is the time between rounds (default
	// DefaultAnnounceInterval).
	AnnounceInterval time.Duration
}

// members returns the primary followed by the standbys.
func (g *GroupConfig) members() []string {
	return append([]string{g.Primary}, g.Standbys...)
}

// Validate reports whether c is a valid configuration (nil is not: it has
// no group). Every error it returns wraps os.ErrInvalid and names the
// first invalid field. Open validates its Config with it.
func (c *Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("failover: "+format+": %w", append(args, os.ErrInvalid)...)
}

// withDefaults validates c and returns a copy with the defaults filled in.
func (c *Config) withDefaults() (Config, error) {
	var v Config
	if c != nil {
		v = *c
	}
	err := v.fill()
	return v, err
}

func (c *Config) fill() error {
	if c.Actuator != nil && c.NetNS != 0 {
		return invalid("Config.NetNS is for the actuator Open opens, and Config.Actuator is set")
	}
	if c.NetNS < 0 {
		return invalid("invalid namespace descriptor %d", c.NetNS)
	}
	if len(c.Groups) == 0 {
		return invalid("no group configured")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax}, {"Settle", c.Settle}, {"RepairInterval", c.RepairInterval}} {
		if d.v < 0 {
			return invalid("negative %s %v", d.name, d.v)
		}
	}
	if c.EventQueue < 0 {
		return invalid("negative EventQueue %d", c.EventQueue)
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryMin {
		return invalid("RetryMax %v below RetryMin %v", c.RetryMax, c.RetryMin)
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.EventQueue == 0 {
		c.EventQueue = DefaultEventQueue
	}
	if c.RepairInterval == 0 {
		c.RepairInterval = DefaultRepairInterval
	}
	owner := map[string]string{}
	names := map[string]bool{}
	groups := make([]GroupConfig, len(c.Groups))
	for i, g := range c.Groups {
		if g.Primary == "" {
			return invalid("group %d has no primary", i)
		}
		if g.Name == "" {
			g.Name = g.Primary
		}
		if names[g.Name] {
			return invalid("group name %q used twice", g.Name)
		}
		names[g.Name] = true
		for _, m := range g.members() {
			if m == "" {
				return invalid("group %q has an empty interface name", g.Name)
			}
			if o, ok := owner[m]; ok {
				return invalid("interface %q is in group %q and in group %q", m, o, g.Name)
			}
			owner[m] = g.Name
		}
		if len(g.Addresses) == 0 {
			return invalid("group %q has no address", g.Name)
		}
		seen := map[netip.Addr]bool{}
		for _, p := range g.Addresses {
			if !p.IsValid() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				return invalid("group %q: invalid address %v", g.Name, p)
			}
			a := p.Addr()
			if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() {
				return invalid("group %q: %v cannot be a service address", g.Name, p)
			}
			if seen[a] {
				return invalid("group %q: address %v listed twice", g.Name, a)
			}
			seen[a] = true
		}
		if g.Initial == "" {
			g.Initial = g.Primary
		} else if _, ok := owner[g.Initial]; !ok || owner[g.Initial] != g.Name {
			return invalid("group %q: initial member %q is not a member", g.Name, g.Initial)
		}
		if g.Failback > FailbackNever {
			return invalid("group %q: invalid failback policy %d", g.Name, g.Failback)
		}
		switch {
		case g.HoldDown < 0 || g.MinDwell < 0 || g.AnnounceCount < 0 || g.AnnounceInterval < 0:
			return invalid("group %q: negative HoldDown, MinDwell, AnnounceCount or AnnounceInterval (NoHoldDown, NoMinDwell and NoAnnounce turn them off)", g.Name)
		case g.NoHoldDown && g.HoldDown != 0, g.NoMinDwell && g.MinDwell != 0, g.NoAnnounce && g.AnnounceCount != 0:
			return invalid("group %q: a switch (NoHoldDown, NoMinDwell, NoAnnounce) and its value both set", g.Name)
		}
		if g.HoldDown == 0 && !g.NoHoldDown {
			g.HoldDown = DefaultHoldDown
		}
		if g.MinDwell == 0 && !g.NoMinDwell {
			g.MinDwell = DefaultMinDwell
		}
		if g.AnnounceCount == 0 && !g.NoAnnounce {
			g.AnnounceCount = DefaultAnnounceCount
		}
		if g.AnnounceInterval == 0 {
			g.AnnounceInterval = DefaultAnnounceInterval
		}
		g.Standbys = append([]string(nil), g.Standbys...)
		g.Addresses = append([]netip.Prefix(nil), g.Addresses...)
		groups[i] = g
	}
	c.Groups = groups
	return nil
}
