// Package metrics exports netpulse's state as Prometheus metrics
// (prometheus/client_golang). A Collector reads the snapshots of a
// linkmon Watcher, an ipmon Poller, failover Engines and route Steerers at
// each scrape, so it costs nothing between scrapes and never disagrees with
// the snapshots. Register it in any registry:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(metrics.Sources{
//		Links:  watcher.Snapshot,
//		Probes: poller.Snapshot,
//		Groups: func() []failover.Status { return []failover.Status{engine.Snapshot()} },
//	}))
//
// The metrics (a source left nil exports none of its metrics):
//
//	netpulse_link_carrier{interface}                 1 with carrier, else 0 (Links)
//	netpulse_interface_health{interface,state}       1 on the member's current health, 0 on the others (Groups)
//	netpulse_target_up{interface,target}             1 when the target answers; unverified is 0 (Probes)
//	netpulse_target_unverified{interface,target}     1 while the target has never answered (Probes)
//	netpulse_target_rtt_seconds{interface,target}    last round-trip time (Probes)
//	netpulse_probes_sent_total                       probes sent (Probes)
//	netpulse_replies_dropped_total{reason}           packets refused as replies, by reason (Probes)
//	netpulse_group_active{group,interface}           1 on the member holding the addresses (Groups)
//	netpulse_switches_total{group,reason}            address moves, the initial placement excluded (Switches)
//	netpulse_route_steered{prefix,interface}         1 on the interface each guarded prefix now uses (Steering)
//	netpulse_route_override{prefix}                  1 while a Steerer's override routes are installed for the prefix (Steering)
//	netpulse_hook_failures_total                     notify hooks that failed or timed out (HookFailures)
//
// This package imports the netpulse packages; none of them imports it, so a
// program that does not export metrics does not link client_golang.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// HealthStates are the values of the state label of
// netpulse_interface_health: netpulse.Health's words.
var HealthStates = func() []string {
	var words []string
	for h := netpulse.HealthUnknown; h <= netpulse.HealthDisabled; h++ {
		words = append(words, h.String())
	}
	return words
}()

// DropReasons are the values of the reason label of
// netpulse_replies_dropped_total, one per field of ipmon.Drops.
var DropReasons = []string{"foreign", "spoofed", "late", "duplicate", "malformed", "wrong_interface", "overflow"}

// SwitchKey identifies a series of netpulse_switches_total.
type SwitchKey struct {
	// Group is the group's name, Reason the move's reason word
	// (netpulse.Reason.String(): "link-down", "ip-down", "failback", "manual").
	Group, Reason string
}

// Sources are the functions a Collector calls at each scrape. Each may be
// nil; each must be safe to call from the scraping goroutine.
type Sources struct {
	// Links returns the link table (linkmon.Watcher.Snapshot).
	Links func() linkmon.Snapshot
	// Probes returns the prober's state (ipmon.Poller.Snapshot).
	Probes func() ipmon.Snapshot
	// Groups returns the status of every failover Engine.
	Groups func() []failover.Status
	// Switches returns the count of moves by group and reason. The engine
	// keeps only its total, so the program counts its SwitchEvents.
	Switches func() map[SwitchKey]uint64
	// Steering returns the snapshot of every route Steerer.
	Steering func() []route.SteererSnapshot
	// HookFailures returns how many notify hooks failed.
	HookFailures func() uint64
}

// Collector is a prometheus.Collector of netpulse's state.
type Collector struct {
	src Sources

	carrier, health, targetUp, unverified, rtt, sent, dropped *prometheus.Desc
	active, switches, steered, override, hookFailures         *prometheus.Desc
}

// NewCollector returns a Collector reading src.
func NewCollector(src Sources) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		src:          src,
		carrier:      d("netpulse_link_carrier", "1 when the link has carrier (and is present), else 0.", "interface"),
		health:       d("netpulse_interface_health", "1 on the member interface's current health state, 0 on the others.", "interface", "state"),
		targetUp:     d("netpulse_target_up", "1 when the polling target answers through the interface; unverified and down are 0.", "interface", "target"),
		unverified:   d("netpulse_target_unverified", "1 while the polling target has never answered since it was added.", "interface", "target"),
		rtt:          d("netpulse_target_rtt_seconds", "Last round-trip time to the polling target.", "interface", "target"),
		sent:         d("netpulse_probes_sent_total", "Probes sent."),
		dropped:      d("netpulse_replies_dropped_total", "Received packets not accepted as replies, by reason.", "reason"),
		active:       d("netpulse_group_active", "1 on the member holding the group's addresses, 0 on the others.", "group", "interface"),
		switches:     d("netpulse_switches_total", "Moves of a group's addresses, by reason (the initial placement excluded).", "group", "reason"),
		steered:      d("netpulse_route_steered", "1 on the interface a guarded prefix now uses (after steering; the series of the interface used before goes away).", "prefix", "interface"),
		override:     d("netpulse_route_override", "1 while the Steerer's override routes keep the prefix off the kernel's own choice, else 0.", "prefix"),
		hookFailures: d("netpulse_hook_failures_total", "Notify hooks that failed, were killed at their timeout or could not be queued."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.carrier, c.health, c.targetUp, c.unverified, c.rtt, c.sent, c.dropped,
		c.active, c.switches, c.steered, c.override, c.hookFailures} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.Links != nil {
		for _, l := range c.src.Links().Links {
			gauge(c.carrier, b2f(l.Present && l.Carrier), l.Name)
		}
	}
	if c.src.Probes != nil {
		s := c.src.Probes()
		for _, t := range s.Targets {
			iface, addr := t.Target.Interface, t.Target.Addr.String()
			gauge(c.targetUp, b2f(t.State == ipmon.TargetUp), iface, addr)
			gauge(c.unverified, b2f(t.State == ipmon.TargetUnverified), iface, addr)
			gauge(c.rtt, t.LastRTT.Seconds(), iface, addr)
		}
		counter(c.sent, s.Sent)
		d := s.Drops
		for i, v := range []uint64{d.Foreign, d.Spoofed, d.Late, d.Duplicate, d.Malformed, d.WrongInterface, d.Overflow} {
			counter(c.dropped, v, DropReasons[i])
		}
	}
	if c.src.Groups != nil {
		for _, st := range c.src.Groups() {
			for _, g := range st.Groups {
				for _, m := range g.Members {
					for _, h := range HealthStates {
						gauge(c.health, b2f(m.Health.String() == h), m.Name, h)
					}
					gauge(c.active, b2f(m.Active), g.Name, m.Name)
				}
			}
		}
	}
	if c.src.Switches != nil {
		for k, v := range c.src.Switches() {
			counter(c.switches, v, k.Group, k.Reason)
		}
	}
	if c.src.Steering != nil {
		for _, s := range c.src.Steering() {
			for _, g := range s.Guards {
				if g.Interface.Name != "" {
					gauge(c.steered, 1, g.Dst.String(), g.Interface.Name)
				}
				gauge(c.override, b2f(g.Steered), g.Dst.String())
			}
		}
	}
	if c.src.HookFailures != nil {
		counter(c.hookFailures, c.src.HookFailures())
	}
}
