//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// Probe timers of the demonstration: a dead path is declared at most
// FailAfter x Interval + Timeout = 3 x 10 ms + 30 ms = 60 ms after it died.
const (
	probeInterval = 10 * time.Millisecond
	probeTimeout  = 30 * time.Millisecond
	failAfter     = 3
	recoverAfter  = 2
	holdDown      = time.Second
)

// damping makes a link that loses carrier three times within about a second
// count as flapping; one loss per step does not. A damped link is released
// HalfLife x log2(Max/Reuse) = 1 s x log2(4000/800), about 2.3 s, after it
// stops flapping.
var damping = &linkmon.Damping{Penalty: 1000, HalfLife: time.Second, Suppress: 2500, Reuse: 800, Max: 4000}

// app is the node's netpulse, wired as an application would wire it:
// linkmon and ipmon feed a health Monitor, which feeds both the route
// Steerer and the failover engine.
type app struct {
	watcher *linkmon.Watcher
	poller  *ipmon.Poller
	steerer *route.Steerer
	engine  *failover.Engine
	health  *health.Monitor
	rec     *recorder

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startApp(ctx context.Context, topo *topology, rec *recorder) (_ *app, err error) {
	a := &app{rec: rec}
	ctx, a.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	fd := topo.node.FD()
	if a.watcher, err = linkmon.Open(ctx, &linkmon.Config{
		NetNS:      fd,
		Interfaces: []netpulse.Interface{{Name: "eth2"}, {Name: "eth3"}},
		Damping:    damping,
	}); err != nil {
		return nil, fmt.Errorf("linkmon: %w", err)
	}
	if a.poller, err = ipmon.Open(ctx, &ipmon.Config{
		NetNS: fd, StrictIngress: true,
		Interval: probeInterval, Timeout: probeTimeout, FailAfter: failAfter, RecoverAfter: recoverAfter,
	}); err != nil {
		return nil, fmt.Errorf("ipmon: %w", err)
	}
	// The router beyond the switch is each interface's polling target,
	// probed through that interface: the standby's path is tested before it
	// is needed, and the primary's keeps being tested after a failover.
	for _, ifc := range []string{"eth3", "eth2"} {
		if err := a.poller.Add(ipmon.Target{Addr: routerAddr.Addr(), Interface: ifc}); err != nil {
			return nil, fmt.Errorf("ipmon: %w", err)
		}
	}
	if a.steerer, err = route.OpenSteerer(ctx, &route.SteererConfig{
		NetNS:      fd,
		Prefixes:   []netip.Prefix{subnet4},
		Interfaces: []string{"eth3", "eth2"},
	}); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	act, err := failover.OpenActuator(ctx, &failover.ActuatorConfig{NetNS: fd})
	if err != nil {
		return nil, fmt.Errorf("failover actuator: %w", err)
	}
	if a.engine, err = failover.Open(ctx, &failover.Config{
		Actuator: act,
		Groups: []failover.GroupConfig{{
			Name: "service", Primary: "eth3", Standbys: []string{"eth2"},
			Addresses: []netip.Prefix{service4},
			Failback:  failover.FailbackAuto, HoldDown: holdDown, MinDwell: holdDown / 2,
			AnnounceCount: 3, AnnounceInterval: 100 * time.Millisecond,
		}},
	}); err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	engineEvents := a.engine.Subscribe(ctx)
	// One health Monitor over both detectors feeds the Steerer and the
	// engine.
	if a.health, err = health.New(ctx, &health.Config{Links: a.watcher, Probes: a.poller}); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	if err := a.health.Feed(ctx, a.steerer); err != nil {
		return nil, err
	}
	if err := a.health.Feed(ctx, a.engine); err != nil {
		return nil, err
	}

	// The timeline, from the detectors' and the actors' own subscriptions.
	links, targets := a.watcher.Subscribe(ctx), a.poller.Subscribe(ctx)
	steered := a.steerer.Subscribe(context.Background()) // ended by a.steerer.Close
	a.wg.Add(4)
	go func() {
		defer a.wg.Done()
		for e := range links {
			if ev, ok := e.(*linkmon.LinkEvent); ok {
				rec.add(record{at: ev.Time, link: ev})
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		for ev := range targets {
			rec.add(record{at: ev.EventTime(), ip: ev})
		}
	}()
	go func() {
		defer a.wg.Done()
		for e := range steered {
			switch ev := e.(type) {
			case *route.SteerEvent:
				if ev.Initial {
					continue // the timeline shows changes only
				}
				rec.add(record{at: ev.Time, route: ev})
			default: // the Steerer's condition, or a drop
				rec.add(record{at: e.EventTime(), steering: e})
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		for ev := range engineEvents {
			if h, ok := ev.(*failover.HealthEvent); ok && h.Initial {
				continue // the timeline shows changes only
			}
			if g, ok := ev.(*failover.GroupEvent); ok && g.Initial {
				continue
			}
			rec.add(record{at: ev.EventTime(), fo: ev})
		}
	}()
	return a, nil
}

// Close stops everything: the sources first, so that nothing feeds a closed
// consumer, then the Steerer (which restores the routes it changed) and the
// engine (which leaves the service address where it is; the namespaces go
// away next anyway).
func (a *app) Close() error {
	var errs []error
	a.cancel()
	if a.health != nil {
		errs = append(errs, a.health.Close())
	}
	if a.watcher != nil {
		errs = append(errs, a.watcher.Close())
	}
	if a.poller != nil {
		errs = append(errs, a.poller.Close())
	}
	if a.steerer != nil {
		errs = append(errs, a.steerer.Close())
	}
	if a.engine != nil {
		errs = append(errs, a.engine.Close())
	}
	a.wg.Wait()
	return errors.Join(errs...)
}
