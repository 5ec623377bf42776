// Package probeflags holds the probe flags the example programs share, so
// that every program spells and checks them the same way:
//
//	-target IFACE=ADDR  probe ADDR out of IFACE (repeatable); IFACE=ADDR/arp
//	                    sends ARP probes (a standby without an IPv4 address),
//	                    IFACE=ADDR/ll ICMPv6 echo from IFACE's link-local address
//	-interval D         probe interval (default 1s)
//	-timeout D          per-probe timeout (default: the interval)
//	-fail-after N       consecutive misses that declare a target down (default 3)
//	-recover-after N    consecutive replies that declare it up again (default 2)
//
// Parse parses a program's command line refusing a repeated flag that takes
// one value (-interval 1s -interval 2s is an error, not 2s), so that every
// program treats repeats the same way: lists repeat, the rest refuse.
package probeflags

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/netpulse/netpulse/ipmon"
)

// Flags are the parsed probe flags.
type Flags struct {
	Targets      []ipmon.Target
	Interval     time.Duration
	Timeout      time.Duration
	FailAfter    int
	RecoverAfter int
}

// Register defines the probe flags on fs and returns where they land.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.Var(targetList{f}, "target", "probe target `IFACE=ADDR` (repeatable; ADDR/arp or ADDR/ll for a standby without an address)")
	fs.DurationVar(&f.Interval, "interval", ipmon.DefaultInterval, "probe interval")
	fs.DurationVar(&f.Timeout, "timeout", 0, "per-probe timeout (default: the interval)")
	fs.IntVar(&f.FailAfter, "fail-after", ipmon.DefaultFailAfter, "consecutive misses that declare a target down")
	fs.IntVar(&f.RecoverAfter, "recover-after", ipmon.DefaultRecoverAfter, "consecutive replies that declare a target up again")
	return f
}

type targetList struct{ f *Flags }

func (l targetList) String() string {
	if l.f == nil {
		return ""
	}
	s := make([]string, len(l.f.Targets))
	for i, t := range l.f.Targets {
		s[i] = t.String()
	}
	return strings.Join(s, ",")
}

func (l targetList) Set(s string) error {
	t, err := ipmon.ParseTargetSpec(s)
	if err != nil {
		return err
	}
	l.f.Targets = append(l.f.Targets, t)
	return nil
}

// Check validates the timings after parsing and gives every target the
// flags' timings (the timeout defaults to the interval).
func (f *Flags) Check() error {
	if f.Interval <= 0 {
		return fmt.Errorf("-interval %v: must be positive", f.Interval)
	}
	if f.Timeout < 0 {
		return fmt.Errorf("-timeout %v: must not be negative", f.Timeout)
	}
	if f.Timeout == 0 {
		f.Timeout = f.Interval
	}
	if f.FailAfter < 1 {
		return errors.New("-fail-after: at least 1")
	}
	if f.RecoverAfter < 1 {
		return errors.New("-recover-after: at least 1")
	}
	for i := range f.Targets {
		f.Targets[i].Interval, f.Targets[i].Timeout = f.Interval, f.Timeout
		f.Targets[i].FailAfter, f.Targets[i].RecoverAfter = f.FailAfter, f.RecoverAfter
	}
	return nil
}

// Config returns a Poller configuration with the flags' timings as defaults
// (for targets added later, such as discovered ones).
func (f *Flags) Config(netns int) *ipmon.Config {
	return &ipmon.Config{
		NetNS: netns, Interval: f.Interval, Timeout: f.Timeout,
		FailAfter: f.FailAfter, RecoverAfter: f.RecoverAfter,
	}
}
