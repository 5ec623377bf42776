//go:build linux

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/linkmon"
)

// How long a step waits for what it expects. Generous: the figures printed
// are what counts, these only bound a step that goes wrong.
const (
	expectWithin   = 3 * time.Second
	failbackWithin = holdDown + 5*time.Second
	quietFor       = 500 * time.Millisecond // to show that nothing happens
)

// session is what the steps work on.
type session struct {
	ctx  context.Context
	topo *topology
	app  *app
	rec  *recorder
	out  *output
}

// A measure is one latency of a step, from the fault (or the repair of the
// fault) to what netpulse did.
type measure struct {
	What string  `json:"what"`
	MS   float64 `json:"ms"`
}

// stepResult is a step's verdict and figures.
type stepResult struct {
	N        int
	Name     string
	Problems []string
	Measures []measure
}

func (r *stepResult) OK() bool { return len(r.Problems) == 0 }

func (r *stepResult) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// expect waits for the event pred and records the time from t0 to it as
// what.
func (s *session) expect(r *stepResult, from int, t0 time.Time, within time.Duration, what string, pred func(record) bool) (time.Duration, bool) {
	rec, ok := s.rec.wait(s.ctx, from, within, pred)
	if !ok {
		r.problem("%s: not seen within %v", what, within)
		return 0, false
	}
	d := rec.at.Sub(t0)
	r.Measures = append(r.Measures, measure{what, ms(d)})
	return d, true
}

// fault does f, marks the timeline and returns where to look from and when
// the fault was made (just before the request that makes it).
func (s *session) fault(r *stepResult, desc string, f func() error) (int, time.Time) {
	from := s.rec.mark()
	s.out.printf("  fault: %s\n", desc)
	t0 := time.Now()
	s.out.setZero(t0)
	if err := f(); err != nil {
		r.problem("%s: %v", desc, err)
	}
	return from, t0
}

func (s *session) ifindex(name string) int {
	i, _ := s.topo.node.Index(name)
	return i
}

// lookupNames checks that the node's kernel sends to the server through dev.
func (s *session) lookupNames(r *stepResult, dev string) {
	ans, err := s.topo.node.RouteGet(serverAddr.Addr())
	if err != nil {
		r.problem("kernel route lookup of the server: %v", err)
		return
	}
	if want := s.ifindex(dev); ans.OutIface != want {
		r.problem("kernel route lookup of the server: interface index %d, want %s (%d)", ans.OutIface, dev, want)
	}
}

// reachable checks the server from the node (through the routing table) and
// the service address from the peer node.
func (s *session) reachable(r *stepResult, what string) {
	if _, err := s.topo.node.Ping("", serverAddr.Addr(), time.Second); err != nil {
		r.problem("%s: node -> server: %v", what, err)
	}
	if _, err := s.topo.pr.Ping("", service4.Addr(), time.Second); err != nil {
		r.problem("%s: peer -> service address: %v", what, err)
	}
}

// activeIs checks which member holds the service address.
func (s *session) activeIs(r *stepResult, dev string) {
	if got := s.app.engine.Snapshot().Groups[0].Active; got != dev {
		r.problem("service address on %q, want %q", got, dev)
	}
}

// settle waits until the node is back to normal: both members up, the
// address on the primary, no route steered, both paths alive.
func (s *session) settle(within time.Duration) error {
	deadline := time.Now().Add(within)
	var why string
	for time.Now().Before(deadline) {
		why = s.unsettled()
		if why == "" {
			return nil
		}
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("the lab did not return to normal within %v: %s", within, why)
}

func (s *session) unsettled() string {
	st := s.app.engine.Snapshot()
	g := st.Groups[0]
	if g.Active != "eth3" || g.MovePending {
		return fmt.Sprintf("service address on %q (pending move: %t)", g.Active, g.MovePending)
	}
	for _, m := range g.Members {
		if m.Health != netpulse.HealthUp {
			return fmt.Sprintf("%s is %s", m.Name, m.Health)
		}
	}
	for _, gs := range s.app.steerer.Snapshot().Guards {
		if gs.Steered {
			return fmt.Sprintf("%v still steered to %s", gs.Dst, gs.Interface.Name)
		}
	}
	for _, ifs := range s.app.poller.Snapshot().Interfaces {
		if ifs.Verdict != netpulse.VerdictAlive {
			return fmt.Sprintf("IP path of %s is %s", ifs.Interface.Name, ifs.Verdict)
		}
	}
	return ""
}

var steps = []struct {
	name string
	run  func(*session, *stepResult)
}{
	{"CIP failure: carrier lost on the interface carrying the subnet route", stepCIP},
	{"IP-only failure: carrier present, path dead", stepIPOnly},
	{"standby fails while idle: reported before it is needed, never chosen", stepStandby},
	{"primary recovery after failover: detected, failed back by policy (auto)", stepRecovery},
	{"flapping link: damped", stepFlap},
}

// Step 1: the failure of the HPE NonStop CIP manual.
func stepCIP(s *session, r *stepResult) {
	sw := s.topo.sw
	s.lookupNames(r, "eth3") // eth3 came first: its subnet route is used
	from, t0 := s.fault(r, "carrier lost on eth3 (its switch port goes down)", func() error { return sw.SetDown("p3") })
	s.expect(r, from, t0, expectWithin, "carrier loss seen", isLink("eth3", false))
	s.expect(r, from, t0, expectWithin, "route steered to eth2", isRoute("eth2", netpulse.ReasonLinkDown))
	s.expect(r, from, t0, expectWithin, "address moved to eth2", isSwitch("eth2", netpulse.ReasonLinkDown))
	s.lookupNames(r, "eth2")
	s.reachable(r, "after carrier loss")
	s.expect(r, from, t0, expectWithin, "probes out of eth3 fail too: IP path dead", isVerdict("eth3", netpulse.VerdictDead))

	from, t0 = s.fault(r, "carrier back on eth3", func() error { return sw.SetPortUp("p3") })
	s.expect(r, from, t0, expectWithin, "carrier back seen", isLink("eth3", true))
	s.expect(r, from, t0, expectWithin, "routes restored", isRoute("eth3", netpulse.ReasonRecovered))
	s.expect(r, from, t0, failbackWithin, "failed back", isSwitch("eth3", netpulse.ReasonFailback))
	s.lookupNames(r, "eth3")
	s.reachable(r, "after recovery")
}

// Step 2: Serviceguard's IP-level failure: the link cannot see it.
func stepIPOnly(s *session, r *stepResult) {
	sw := s.topo.sw
	from, t0 := s.fault(r, "eth3's switch port detached from the switch (carrier stays up)", func() error { return sw.SetMaster("p3", "") })
	s.expect(r, from, t0, expectWithin, "IP path dead", isVerdict("eth3", netpulse.VerdictDead))
	s.expect(r, from, t0, expectWithin, "reported ip-down", isHealth("eth3", netpulse.HealthIPDown))
	s.expect(r, from, t0, expectWithin, "route steered to eth2", isRoute("eth2", netpulse.ReasonIPDown))
	s.expect(r, from, t0, expectWithin, "address moved to eth2", isSwitch("eth2", netpulse.ReasonIPDown))
	if s.rec.any(from, isLink("eth3", false)) {
		r.problem("a carrier loss was reported for an IP-only failure")
	}
	if up, err := s.topo.node.Carrier("eth3"); err != nil || !up {
		r.problem("eth3 lost carrier (%v): the failure is not IP-only", err)
	}
	if g := s.app.engine.Snapshot().Groups[0]; g.Members[0].Failure != netpulse.FailureIPOnly {
		r.problem("eth3's failure reported as %s, want %s", g.Members[0].Failure, netpulse.FailureIPOnly)
	}
	s.reachable(r, "after the IP-only failure")

	from, t0 = s.fault(r, "eth3's switch port attached again", func() error { return sw.SetMaster("p3", "br0") })
	s.expect(r, from, t0, expectWithin, "IP path alive", isVerdict("eth3", netpulse.VerdictAlive))
	s.expect(r, from, t0, failbackWithin, "failed back", isSwitch("eth3", netpulse.ReasonFailback))
}

// Step 3: a standby whose IP path dies while it is idle.
func stepStandby(s *session, r *stepResult) {
	sw := s.topo.sw
	from, t0 := s.fault(r, "standby eth2's switch port detached while eth2 is idle", func() error { return sw.SetMaster("p2", "") })
	s.expect(r, from, t0, expectWithin, "standby reported ip-down", isHealth("eth2", netpulse.HealthIPDown))
	s.activeIs(r, "eth3")

	from, t0 = s.fault(r, "carrier lost on primary eth3", func() error { return sw.SetDown("p3") })
	s.expect(r, from, t0, expectWithin, "primary link-down", isHealth("eth3", netpulse.HealthLinkDown))
	s.expect(r, from, t0, expectWithin, "subnet-down reported", isSubnetDown(true))
	time.Sleep(quietFor)
	if s.rec.any(from, isAnySwitch) {
		r.problem("the address moved although the standby's path is dead")
	}
	s.activeIs(r, "eth3")

	from, t0 = s.fault(r, "eth3's carrier back and eth2's port attached again", func() error {
		if err := sw.SetPortUp("p3"); err != nil {
			return err
		}
		return sw.SetMaster("p2", "br0")
	})
	s.expect(r, from, t0, expectWithin, "subnet up again", isSubnetDown(false))
	s.expect(r, from, t0, expectWithin, "standby up again", isHealth("eth2", netpulse.HealthUp))
}

// Step 4: the primary recovers after a failover.
func stepRecovery(s *session, r *stepResult) {
	sw := s.topo.sw
	from, t0 := s.fault(r, "carrier lost on eth3", func() error { return sw.SetDown("p3") })
	s.expect(r, from, t0, expectWithin, "address moved to eth2", isSwitch("eth2", netpulse.ReasonLinkDown))
	s.expect(r, from, t0, expectWithin, "probes out of eth3 fail too: IP path dead", isVerdict("eth3", netpulse.VerdictDead))

	from, t0 = s.fault(r, "carrier back on eth3: is the recovery seen?", func() error { return sw.SetPortUp("p3") })
	s.expect(r, from, t0, expectWithin, "carrier back seen", isLink("eth3", true))
	s.expect(r, from, t0, expectWithin, "primary's IP path alive", isVerdict("eth3", netpulse.VerdictAlive))
	up, ok1 := s.expect(r, from, t0, expectWithin, "primary up again", isHealth("eth3", netpulse.HealthUp))
	back, ok2 := s.expect(r, from, t0, failbackWithin, "failed back", isSwitch("eth3", netpulse.ReasonFailback))
	if ok1 && ok2 && back-up < holdDown*9/10 {
		r.problem("failed back %v after the recovery, before the %v hold-down", back-up, holdDown)
	}
	s.activeIs(r, "eth3")
	s.reachable(r, "after failback")
}

// Step 5: a link that flaps is damped instead of moving the address back and
// forth.
func stepFlap(s *session, r *stepResult) {
	sw := s.topo.sw
	const flaps = 6
	var flapEnd time.Time
	s.waitPenaltyBelow("eth3", damping.Penalty/8, 5*time.Second)
	from, t0 := s.fault(r, fmt.Sprintf("eth3 flaps %d times, 20 ms apart", flaps), func() error {
		defer func() { flapEnd = time.Now() }()
		return sw.Flap("p3", flaps, 10*time.Millisecond)
	})
	s.expect(r, from, t0, expectWithin, "damped", isDamped("eth3", true))
	s.expect(r, from, t0, expectWithin, "address moved to eth2", isSwitch("eth2", netpulse.ReasonLinkDown))
	released, ok := s.expect(r, from, t0, 10*time.Second, "released after the flapping stopped", isDamped("eth3", false))
	s.expect(r, from, t0, 10*time.Second+failbackWithin, "failed back", isSwitch("eth3", netpulse.ReasonFailback))
	// Reported carrier changes against the kernel's: damping keeps the
	// application from following each flap, exactly as linkmon.Damping
	// promises (dampingProblems).
	var evs []linkmon.LinkEvent
	s.rec.mu.Lock()
	for _, rec := range s.rec.recs[from:] {
		if rec.link != nil && rec.link.State.Name == "eth3" {
			evs = append(evs, *rec.link)
		}
	}
	s.rec.mu.Unlock()
	reported := 0
	for _, ev := range evs {
		if ev.State.Carrier != ev.Previous.Carrier {
			reported++
		}
	}
	s.out.printf("  %d flaps made %d kernel carrier transitions; %d carrier changes reported", flaps, 2*flaps, reported)
	if ok {
		s.out.printf(", the link held down until %.0f ms", ms(released))
	}
	s.out.printf("\n")
	if len(evs) == 0 {
		r.problem("no eth3 event after the flaps")
		return
	}
	for _, p := range dampingProblems(evs, *damping, t0, flapEnd, 250*time.Millisecond) {
		r.problem("damping: %s", p)
	}
}

// printStep prints a step's verdict line (and JSON record).
func (s *session) printStep(r *stepResult) {
	if s.out.json != nil {
		s.out.json.Write(struct {
			Time     string    `json:"time"`
			Event    string    `json:"event"`
			Step     int       `json:"step"`
			Name     string    `json:"name"`
			OK       bool      `json:"ok"`
			Measures []measure `json:"measures"`
			Problems []string  `json:"problems,omitempty"`
		}{jsonl.Stamp(time.Now()), "step", r.N, r.Name, r.OK(), r.Measures, r.Problems})
		return
	}
	verdict := "ok"
	if !r.OK() {
		verdict = "FAILED"
	}
	line := fmt.Sprintf("step %d %s:", r.N, verdict)
	for _, m := range r.Measures {
		line += fmt.Sprintf(" %s %.1f ms;", m.What, m.MS)
	}
	s.out.printf("%s\n", line)
	for _, p := range r.Problems {
		s.out.printf("  problem: %s\n", p)
	}
}
