package failover

import (
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/words"
)

// GroupState is the state of a group.
type GroupState uint8

// GroupState values.
const (
	// GroupUnknown: no member up and none known failed yet ("unknown").
	GroupUnknown GroupState = iota
	// GroupUp: at least one member is up ("up").
	GroupUp
	// GroupSubnetDown: no member is up (or, with SubnetDownOnIPFailure, a
	// member has an IP-level failure); the addresses stay where they are
	// ("subnet-down").
	GroupSubnetDown
)

var groupStateNames = [...]string{"unknown", "up", "subnet-down"}

// String returns "unknown", "up" or "subnet-down".
func (s GroupState) String() string { return words.Name(groupStateNames[:], s, "GroupState") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (s GroupState) MarshalText() ([]byte, error) {
	return words.Marshal(groupStateNames[:], s, "failover", "GroupState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *GroupState) UnmarshalText(b []byte) error {
	return words.Unmarshal(groupStateNames[:], b, s, "failover", "GroupState")
}

// Status is a snapshot of the engine: what Serviceguard's cmviewcl shows,
// with link-level and IP-level failures apart. It marshals to JSON.
type Status struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Groups in configured order.
	Groups []GroupStatus `json:"groups"`
	// Counters since Open.
	Counters Counters `json:"counters"`
}

// GroupStatus is the state of one group.
type GroupStatus struct {
	// Name, State and Addresses of the group.
	Name      string         `json:"name"`
	State     GroupState     `json:"state"`
	Addresses []netip.Prefix `json:"addresses"`
	// Active is the member holding the addresses ("" until placed).
	Active string `json:"active"`
	// Failback is the group's failback policy.
	Failback FailbackPolicy `json:"failback"`
	// FailbackPending: the addresses are off the primary and the primary
	// is up (under "auto" they return after the hold-down; under "manual"
	// Engine.Failback returns them).
	FailbackPending bool `json:"failback_pending"`
	// LastSwitch and LastReason describe the last move (zero if none).
	LastSwitch time.Time       `json:"last_switch"`
	LastReason netpulse.Reason `json:"last_reason"`
	// Switches counts the group's moves (the initial placement included).
	Switches uint64 `json:"switches"`
	// MovePending: a move began and has not completed: it failed and is
	// being retried, or, while the group is subnet-down, it completes when
	// a member is up again (until then the addresses may be on two
	// members).
	MovePending bool `json:"move_pending"`
	// LastError is the error of the last failed move attempt ("" if the
	// last attempt succeeded).
	LastError string `json:"last_error,omitempty"`
	// PermanentError is the permanent error (IsPermanent) that stopped the
	// last move ("" if none since the last successful move): the move is
	// not retried until a member's health changes or a move is asked for.
	PermanentError string `json:"permanent_error,omitempty"`
	// Members: the primary, then the standbys in order.
	Members []InterfaceStatus `json:"members"`
}

// InterfaceStatus is the state of one member interface.
type InterfaceStatus struct {
	// Name and Index (0 until link evidence gave one) of the interface.
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Role is "primary" or "standby".
	Role string `json:"role"`
	// Active: this member holds the group's addresses.
	Active bool `json:"active"`
	// Health and Failure as derived from the evidence.
	Health  netpulse.Health  `json:"health"`
	Failure netpulse.Failure `json:"failure"`
	// Disabled by the operator or by policy after an IP-level failure.
	Disabled bool `json:"disabled"`
	// Link is the member's link state: up, down (no carrier, admin down
	// or gone) or unknown (no link evidence yet).
	Link netpulse.State `json:"link"`
	// IP is the IP verdict on the member's path: the standby's IP health
	// is watched before it is needed.
	IP netpulse.Verdict `json:"ip"`
	// Since and Reason describe the last health change.
	Since  time.Time       `json:"since"`
	Reason netpulse.Reason `json:"reason"`
}

// Counters are what an operator counts.
type Counters struct {
	// LinkEvidence and IPEvidence count the evidence received (Observe)
	// that carried a link state and an IP verdict (not unknown);
	// UnknownEvidence counts evidence about interfaces in no group.
	LinkEvidence    uint64 `json:"link_evidence"`
	IPEvidence      uint64 `json:"ip_evidence"`
	UnknownEvidence uint64 `json:"unknown_evidence"`
	// HealthChanges, Switches and Failbacks count transitions and moves.
	HealthChanges uint64 `json:"health_changes"`
	Switches      uint64 `json:"switches"`
	Failbacks     uint64 `json:"failbacks"`
	// ActionErrors counts failed move attempts (each is retried unless
	// its error is permanent).
	ActionErrors uint64 `json:"action_errors"`
	// PermanentErrors counts the permanent errors among the failed
	// actions and announcements (not retried on a timer).
	PermanentErrors uint64 `json:"permanent_errors"`
	// Repairs counts re-assertions of the active member's addresses or
	// return path after they were removed behind the engine's back.
	Repairs uint64 `json:"repairs"`
	// Announcements counts rounds sent; AnnounceErrors the failed ones.
	Announcements  uint64 `json:"announcements"`
	AnnounceErrors uint64 `json:"announce_errors"`
	// SurvivorAnnouncements counts rounds of a surviving member's own
	// addresses announced after another member failed.
	SurvivorAnnouncements uint64 `json:"survivor_announcements"`
	// EventsDropped counts events dropped because a subscriber fell
	// behind its queue's cap (Engine.Subscribe), over all subscribers;
	// each was told by a *netpulse.DropEvent. Folded health and group
	// events are not counted: nothing of them is lost.
	EventsDropped uint64 `json:"events_dropped"`
}

// Snapshot returns the current status.
func (e *Engine) Snapshot() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inMu.Lock()
	c := e.counters
	c.EventsDropped = e.hub.Dropped()
	c.LinkEvidence, c.IPEvidence, c.UnknownEvidence = e.inCnt.link, e.inCnt.ip, e.inCnt.unknown
	e.inMu.Unlock()
	st := Status{Time: time.Now(), Counters: c}
	for _, g := range e.groups {
		gs := GroupStatus{
			Name: g.cfg.Name, State: g.state, Failback: g.cfg.Failback,
			Addresses:  append([]netip.Prefix(nil), g.cfg.Addresses...),
			LastSwitch: g.lastSwitch, LastReason: g.lastReason, Switches: g.switches,
			MovePending: g.dirty,
		}
		if g.active != nil {
			gs.Active = g.active.name
			gs.FailbackPending = g.active != g.members[0] && g.members[0].health == netpulse.HealthUp
		}
		if g.lastErr != nil {
			gs.LastError = g.lastErr.Error()
		}
		if g.permErr != nil {
			gs.PermanentError = g.permErr.Error()
		}
		for _, m := range g.members {
			is := InterfaceStatus{
				Name: m.name, Index: m.index, Role: "standby", Active: m == g.active,
				Health: m.health, Failure: m.failure, Disabled: m.opDisabled || m.policyDisabled,
				Link: netpulse.StateUnknown, IP: netpulse.VerdictUnknown, Since: m.since, Reason: m.reason,
			}
			if m == g.members[0] {
				is.Role = "primary"
			}
			if m.link != nil {
				is.Link = netpulse.StateDown
				if m.link.Up {
					is.Link = netpulse.StateUp
				}
			}
			if m.ip != nil {
				is.IP = m.ip.Verdict
			}
			gs.Members = append(gs.Members, is)
		}
		st.Groups = append(st.Groups, gs)
	}
	return st
}

// String renders the status as a table in the spirit of cmviewcl: one
// block per group, one line per member.
func (s Status) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for i, g := range s.Groups {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintln(tw, "GROUP\tSTATUS\tACTIVE\tFAILBACK\tSWITCHES\tADDRESSES")
		active := g.Active
		if active == "" {
			active = "-"
		}
		addrs := make([]string, len(g.Addresses))
		for j, a := range g.Addresses {
			addrs[j] = a.String()
		}
		fb := g.Failback.String()
		if g.FailbackPending {
			fb += " (pending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", g.Name, g.State, active, fb, g.Switches, strings.Join(addrs, ","))
		if g.MovePending {
			fmt.Fprintf(tw, "  move pending, last error: %s\n", g.LastError)
		}
		if g.PermanentError != "" {
			fmt.Fprintf(tw, "  stopped by a permanent error (not retried): %s\n", g.PermanentError)
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "  NETWORK_INTERFACE\tROLE\tACTIVE\tHEALTH\tFAILURE\tLINK\tIP\tSINCE")
		for _, m := range g.Members {
			act := "no"
			if m.Active {
				act = "yes"
			}
			h := m.Health.String()
			if m.Disabled && m.Health != netpulse.HealthDisabled {
				h += " (disabled)"
			}
			since := "-"
			if !m.Since.IsZero() {
				since = m.Since.Format("15:04:05.000")
				if m.Reason != netpulse.ReasonNone {
					since += " " + m.Reason.String()
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Role, act, h, m.Failure, m.Link, m.IP, since)
		}
	}
	tw.Flush()
	return b.String()
}
