package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
)

// run keeps the addresses on a healthy member until ctx is done (nil
// error) or something fails. A signal on status prints the status table.
func run(ctx context.Context, o options, out *output, status <-chan os.Signal) error {
	var fd int
	if o.netns != "" {
		f, err := os.Open(o.netns)
		if err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		defer f.Close()
		fd = int(f.Fd())
	}
	members := append([]string{o.primary}, o.standbys...)

	act, err := failover.OpenActuator(ctx, &failover.ActuatorConfig{NetNS: fd})
	if err != nil {
		return err
	}
	defer act.Close()
	// Return-path rules and routes an earlier run left for addresses that
	// are no longer managed.
	if n, err := act.Sweep(ctx, o.addresses); err != nil {
		return err
	} else if n > 0 {
		out.note(fmt.Sprintf("removed %d return-path rules and routes left by an earlier run", n))
	}
	initial, err := act.Holder(ctx, members, o.addresses)
	if err != nil {
		return err
	}

	sel := make([]netpulse.Interface, len(members))
	for i, m := range members {
		sel[i] = netpulse.Interface{Name: m}
	}
	w, err := linkmon.Open(ctx, &linkmon.Config{NetNS: fd, Interfaces: sel})
	if err != nil {
		return err
	}
	defer w.Close()
	p, err := ipmon.Open(ctx, o.probes.Config(fd))
	if err != nil {
		return err
	}
	defer p.Close()
	for _, t := range o.probes.Targets {
		if !slices.Contains(members, t.Interface) {
			return fmt.Errorf("-target %s=%v: %s is not the primary or a standby", t.Interface, t.Addr, t.Interface)
		}
		if err := p.Add(t); err != nil {
			return fmt.Errorf("-target %s=%v: %w", t.Interface, t.Addr, err)
		}
	}

	e, err := failover.Open(ctx, &failover.Config{Groups: []failover.GroupConfig{o.group(initial)}, Actuator: act})
	if err != nil {
		return err
	}
	defer e.Close()
	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.Subscribe(subCtx)
	mon, err := health.New(ctx, &health.Config{Links: w, Probes: p, Interfaces: members})
	if err != nil {
		return err
	}
	defer mon.Close()
	if err := mon.Feed(ctx, e); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			out.leaving(e.Snapshot())
			return nil
		case ev := <-events:
			if initialState(ev) {
				continue // the records report changes only
			}
			out.event(ev)
			if err := fatal(ev); err != nil {
				return err
			}
		case <-status:
			out.status(e.Snapshot())
		}
	}
}

// group is the one failover group of the command line; initial is the
// member that holds the addresses now.
func (o options) group(initial string) failover.GroupConfig {
	return failover.GroupConfig{
		Name: o.primary, Primary: o.primary, Standbys: o.standbys, Addresses: o.addresses,
		Initial: initial, Failback: o.failback, HoldDown: o.holdDown, NoHoldDown: o.holdDown == 0,
	}
}

// initialState reports whether ev is one of the events a subscription to
// the engine starts with (the state at Subscribe, not a change).
func initialState(ev netpulse.Event) bool {
	switch ev := ev.(type) {
	case *failover.HealthEvent:
		return ev.Initial
	case *failover.GroupEvent:
		return ev.Initial
	}
	return false
}

// fatal returns the error that ends failoverd for ev: a missing privilege
// or an address held elsewhere, which no retry can fix. Other permanent
// errors (a member gone meanwhile) are retried by the engine when the
// member's health changes.
func fatal(ev netpulse.Event) error {
	a, ok := ev.(*failover.ActionErrorEvent)
	if !ok || !a.Permanent {
		return nil
	}
	var ce *failover.ConflictError
	switch {
	case errors.As(a.Err, &ce):
		return fmt.Errorf("not taking %v: %w", ce.Address, a.Err)
	case errors.Is(a.Err, os.ErrPermission):
		return fmt.Errorf("%s on %s: %w (failoverd needs CAP_NET_ADMIN and CAP_NET_RAW)", a.Op, a.Interface.Name, a.Err)
	}
	return nil
}
