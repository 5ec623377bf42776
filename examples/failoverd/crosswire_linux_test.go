//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// crossLab is issue 11's lab for the cross-wired verdicts: node eth3
// (primary, 198.18.10.3) and eth2 (standby, 198.18.10.2 or no address) on
// one bridge with a server at 198.18.10.100; arp_ignore=1 and
// arp_announce=2 on the node.
type crossLab struct {
	lab              *netlab.Lab
	node, sw, server *netlab.NS
}

func buildCrossLab(t *testing.T, standbyAddr bool) crossLab {
	t.Helper()
	netlab.Require(t)
	lab, err := netlab.Open(netlab.Config{Named: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lab.Close()) })
	eth2 := netlab.PairLink{Name: "eth2", Peer: "p2"}
	if standbyAddr {
		eth2.Addrs = []netip.Prefix{netip.MustParsePrefix("198.18.10.2/24")}
	}
	p, err := lab.Pair(netlab.PairOptions{Node: "node", Peer: "sw", Bridge: "br0", StrictARP: true,
		Links:    []netlab.PairLink{{Name: "eth3", Peer: "p3", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.3/24")}}, eth2},
		ServerNS: "srv", Server: &netlab.PairLink{Name: "eth0", Peer: "ps", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.10.100/24")}},
	})
	require.NoError(t, err)
	return crossLab{lab: lab, node: p.Node, sw: p.Peer, server: p.Server}
}

// logNeighbours logs the server's IPv4 neighbour entries and the node's
// hardware addresses: a cross-wired return path shows as one of the node's
// addresses at the other member's hardware address.
func (c crossLab) logNeighbours(t *testing.T) {
	for _, dev := range []string{"eth3", "eth2"} {
		if l, err := c.node.Link(dev); err == nil && l.Attributes != nil {
			t.Logf("node %s: %v", dev, l.Attributes.Address)
		}
	}
	rt, err := c.server.Dial()
	if err != nil {
		return
	}
	defer rt.Close()
	ns, err := rt.Neigh.List()
	if err != nil {
		return
	}
	for _, n := range ns {
		if n.Attributes != nil && n.Family == unix.AF_INET {
			t.Logf("server neighbour %v at %v state %#x", n.Attributes.Address, n.Attributes.LLAddress, n.State)
		}
	}
}

type record map[string]any

// recorder collects failoverd's JSON lines with the time they were read.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (r *recorder) feed(l *lines) {
	for s := range l.ch {
		var m record
		if json.Unmarshal([]byte(s), &m) != nil {
			continue
		}
		r.mu.Lock()
		r.recs = append(r.recs, m)
		r.mu.Unlock()
	}
}

// wait returns the first record from index from on that matches.
func (r *recorder) wait(t *testing.T, what string, from int, d time.Duration, match func(record) bool) (record, int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		recs := r.all()
		for i := from; i < len(recs); i++ {
			if match(recs[i]) {
				return recs[i], i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; records: %v", what, d, recs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.recs...)
}

func isHealth(iface, state string) func(record) bool {
	return func(m record) bool { return m["event"] == "health" && m["interface"] == iface && m["state"] == state }
}

// since returns the records from index i on that match.
func (r *recorder) since(i int, match func(record) bool) []record {
	var out []record
	for j, m := range r.all() {
		if j >= i && match(m) {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

func isSwitch(to string) func(record) bool {
	return func(m record) bool { return m["event"] == "switch" && m["to"] == to }
}

// crossWireRun runs issue 11's sequence once on a fresh lab: failoverd
// with eth3 primary and eth2 standby, carrier loss on eth3 (move), carrier
// back (failback), then eth2's bridge port detached (eth3 must stay up),
// reattached, and eth3's detached (eth3 goes ip-down and the address moves
// to eth2, which must stay up).
func crossWireRun(t *testing.T, standbyAddr bool) {
	c := buildCrossLab(t, standbyAddr)
	args := []string{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24",
		"-target", "eth3=198.18.10.100", "-target", "eth2=198.18.10.100", "-interval", "50ms",
		"-failback", "auto", "-hold-down", "300ms", "-json", "-netns", c.node.Path()}
	o, err := parseFlags(args, io.Discard)
	require.NoError(t, err)
	stdout, stderr := newLines(), newLines()
	rec := &recorder{}
	tables := &statusTables{}
	fed := make(chan struct{}, 2)
	go func() { rec.feed(stdout); fed <- struct{}{} }()
	go func() { tables.feed(stderr); fed <- struct{}{} }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	status := make(chan os.Signal)
	go func() { done <- run(ctx, o, newOutput(stdout, stderr, true), status) }()
	// alive waits until failoverd's status table (asked for as SIGUSR1
	// does) shows eth3's IP verdict alive, and eth2's with its own address
	// (without one its IPv4 target is held while eth3 holds the service
	// address): the paths are verified before the next fault.
	alive := func() {
		t.Helper()
		members := []string{"eth3"}
		if standbyAddr {
			members = append(members, "eth2")
		}
		tables.waitAlive(t, status, members, 10*time.Second)
	}
	defer func() {
		cancel()
		require.NoError(t, <-done)
		close(stdout.ch)
		close(stderr.ch)
		<-fed
		<-fed
	}()

	defer func() {
		if t.Failed() {
			for _, m := range rec.all() {
				t.Logf("%v", m)
			}
			c.logNeighbours(t)
		}
	}()
	rec.wait(t, "eth3 up", 0, 5*time.Second, isHealth("eth3", "up"))
	rec.wait(t, "eth2 up", 0, 5*time.Second, isHealth("eth2", "up"))
	alive()
	require.NoError(t, c.sw.SetDown("p3"))
	_, i := rec.wait(t, "move to eth2", 0, 5*time.Second, isSwitch("eth2"))
	require.NoError(t, c.sw.SetUp("p3"))
	rec.wait(t, "failback to eth3", i, 20*time.Second, isSwitch("eth3"))
	alive()
	// The scenario is a fault after the failback has settled: the move
	// itself can cross-wire the server's cache for a moment, which the
	// engine's announcements after the move repair (see
	// TestCrossWiredVerdicts); no record says when they went out. Without
	// this pause the fault below lands in that moment (seen 3 runs in 60
	// under load), which is not what this step is about.
	time.Sleep(300 * time.Millisecond)

	// A fault on eth2's path: eth3 must not go ip-down, nothing moves.
	i = rec.len()
	require.NoError(t, c.sw.SetMaster("p2", ""))
	if standbyAddr {
		rec.wait(t, "eth2 ip-down", i, 5*time.Second, isHealth("eth2", "ip-down"))
	}
	// The scenario is an absence: three detection bounds (3 x 50ms +
	// 50ms) more in which eth3 must not go down.
	time.Sleep(600 * time.Millisecond)
	require.Empty(t, rec.since(i, isHealth("eth3", "ip-down")), "eth2's fault took eth3 down: %v", rec.since(i, func(record) bool { return true }))
	require.Empty(t, rec.since(i, func(m record) bool { return m["event"] == "switch" }), "a fault on the standby moved the address")
	require.NoError(t, c.sw.SetMaster("p2", "br0"))
	if standbyAddr {
		rec.wait(t, "eth2 up again", i, 5*time.Second, isHealth("eth2", "up"))
	}
	alive()

	// A fault on eth3's path: eth3 goes ip-down, the address moves to
	// eth2, and eth2 stays up.
	i = rec.len()
	require.NoError(t, c.sw.SetMaster("p3", ""))
	rec.wait(t, "eth3 ip-down", i, 5*time.Second, isHealth("eth3", "ip-down"))
	sw, _ := rec.wait(t, "move to eth2", i, 5*time.Second, func(m record) bool { return m["event"] == "switch" })
	require.Equal(t, "eth2", sw["to"], "%v", sw)
	require.Equal(t, "ip-down", sw["reason"], "%v", sw)
	// The scenario is an absence: eth2 must not go down in the three
	// detection bounds after the move.
	time.Sleep(600 * time.Millisecond)
	require.Empty(t, rec.since(i, isHealth("eth2", "ip-down")), "eth3's fault took eth2 down: %v", rec.since(i, func(record) bool { return true }))
}

// TestCrossWiredVerdicts is issue 11 item 4: after a failover and a
// failback, a fault on one member's path must not take the other member's
// target down. Ten runs per case, each on its own lab (run side by side:
// each waits mostly for failover's minimum dwell), so that a failure in
// half of the runs (as reported) passes unnoticed with probability
// 1/1024 per case.
//
// The residual race (standby without an address: about 1 run in 20 under
// -race before the engine's fix): when the failback removes eth2's last
// IPv4 address the kernel flushes eth2's neighbours; an IPv4 packet out of
// eth2 before ipmon has seen the removal and held eth2's target makes the
// kernel resolve the server again with another interface's address as ARP
// sender (arp_announce=2 falls back to it), so the server learns the
// primary's own address (198.18.10.3) at eth2's hardware address and sends
// eth3's replies to eth2. ipmon, an observer, cannot order its hold before
// the removal; the failover engine repairs the server's cache by announcing
// the members' own addresses after every move (0 failures in 80 runs of
// this case under -race after it, where about 4 were expected before).
func TestCrossWiredVerdicts(t *testing.T) {
	runs := 10
	if testing.Short() {
		runs = 2
	}
	var wg sync.WaitGroup
	for _, standbyAddr := range []bool{false, true} {
		name := "standby-without-address"
		if standbyAddr {
			name = "standby-with-address"
		}
		for r := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(fmt.Sprintf("%s/run%d", name, r), func(t *testing.T) { crossWireRun(t, standbyAddr) })
			}()
		}
	}
	wg.Wait()
}

// statusTables reads failoverd's standard error (under -json the status
// table goes there) and keeps the IP verdict of each member as the last
// table showed it.
type statusTables struct {
	mu     sync.Mutex
	ip     map[string]string
	tables int
}

func (s *statusTables) feed(l *lines) {
	for line := range l.ch {
		f := strings.Fields(line)
		s.mu.Lock()
		switch {
		case len(f) > 0 && f[0] == "NETWORK_INTERFACE":
			s.tables++
			s.ip = map[string]string{} // the members of this table follow
		case len(f) >= 7 && strings.HasPrefix(line, "  eth") && s.ip != nil:
			// NAME ROLE ACTIVE HEALTH [(disabled)] FAILURE LINK IP SINCE...
			s.ip[f[0]] = ""
			if slices.Contains(f, "alive") {
				s.ip[f[0]] = "alive"
			}
		}
		s.mu.Unlock()
	}
}

// waitAlive asks for the status table until every one of members shows the
// IP verdict alive, for at most d.
func (s *statusTables) waitAlive(t *testing.T, status chan<- os.Signal, members []string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		n := s.tables
		s.mu.Unlock()
		select {
		case status <- syscall.SIGUSR1:
		case <-time.After(time.Until(deadline)):
			t.Fatal("failoverd does not answer a status request")
		}
		// The table is printed by the loop that took the request; its
		// member lines follow its header.
		for {
			s.mu.Lock()
			ok := s.tables > n
			ip := maps.Clone(s.ip)
			s.mu.Unlock()
			complete := ok
			for _, m := range members {
				_, seen := ip[m]
				complete = complete && seen
			}
			if complete {
				all := true
				for _, m := range members {
					all = all && ip[m] == "alive"
				}
				if all {
					return
				}
				break
			}
			require.True(t, time.Now().Before(deadline), "no status table")
			time.Sleep(5 * time.Millisecond)
		}
		s.mu.Lock()
		last := maps.Clone(s.ip)
		s.mu.Unlock()
		require.True(t, time.Now().Before(deadline), "not alive within %v: %v", d, last)
		time.Sleep(20 * time.Millisecond)
	}
}
