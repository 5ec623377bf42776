//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MeasureEnv runs TestMeasure (off by default: it takes about a minute).
// Run it under the bench lock:
//
//	NETPULSED_MEASURE=1 flock /tmp/netpulse-bench.lock go test -run TestMeasure -v ./examples/netpulsed
const measureEnv = "NETPULSED_MEASURE"

// proc is a program under measurement, read through its JSON lines.
type proc struct {
	cmd  *exec.Cmd
	recs *records
	done chan error
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = &safeBuffer{}
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, recs: &records{}, done: make(chan error, 1)}
	t.Cleanup(func() {
		if t.Failed() {
			all := p.recs.since(0)
			t.Logf("%s: last records %v\nstderr: %s", filepath.Base(bin), all[max(0, len(all)-8):], cmd.Stderr.(*safeBuffer).String())
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue // failoverd's text lines on stdout, if any
			}
			p.recs.mu.Lock()
			p.recs.all = append(p.recs.all, m)
			p.recs.at = append(p.recs.at, time.Now())
			p.recs.mu.Unlock()
		}
		p.done <- cmd.Wait()
	}()
	return p
}

// waitAlive asks failoverd p for its status table (SIGUSR1; under -json it
// goes to standard error) until every one of members shows the IP verdict
// alive: both paths are verified before the first carrier loss.
func (p *proc) waitAlive(t *testing.T, members ...string) {
	t.Helper()
	stderr := p.cmd.Stderr.(*safeBuffer)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := strings.Count(stderr.String(), "NETWORK_INTERFACE")
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGUSR1))
		var table string
		for table == "" {
			out := stderr.String()
			if strings.Count(out, "NETWORK_INTERFACE") > n {
				table = out[strings.LastIndex(out, "NETWORK_INTERFACE"):]
			}
			require.True(t, time.Now().Before(deadline), "no status table from failoverd")
			time.Sleep(5 * time.Millisecond)
		}
		alive := 0
		for _, l := range strings.Split(table, "\n") {
			// NAME ROLE ACTIVE HEALTH [(disabled)] FAILURE LINK IP SINCE...
			f := strings.Fields(l)
			if len(f) >= 7 && slices.Contains(members, f[0]) && slices.Contains(f, "alive") {
				alive++
			}
		}
		if alive == len(members) {
			return
		}
		require.True(t, time.Now().Before(deadline), "not all alive: %s", table)
		time.Sleep(20 * time.Millisecond)
	}
}

// waitWatchers waits until n link watchers (linkmon's sockets, bound to
// RTNLGRP_LINK alone) are open in the node's namespace: the programs
// started after the previous ones stopped have subscribed to their
// Steerer or engine and see the next carrier loss.
func waitWatchers(t *testing.T, d *daemonLab, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := d.node.NetlinkListeners(syscall.NETLINK_ROUTE, 1<<(syscall.RTNLGRP_LINK-1))
		require.NoError(t, err)
		return c >= n
	}, 10*time.Second, 5*time.Millisecond, "%d link watchers not open", n)
}

func (p *proc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		require.NoError(t, err, "%s", p.cmd.Stderr.(*safeBuffer).String())
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("no exit after SIGTERM")
	}
}

// cpuRSS returns the process's CPU time (user+system) and resident set.
func cpuRSS(t *testing.T, pid int) (time.Duration, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cpu := time.Duration(ut+st) * time.Second / 100 // USER_HZ
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	var rss int64
	for _, l := range strings.Split(string(s), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			rss, _ = strconv.ParseInt(strings.Fields(l)[1], 10, 64)
		}
	}
	return cpu, rss * 1024
}

func buildExample(t *testing.T, dir, name string) string {
	out := filepath.Join(dir, name)
	b, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "../"+name).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

type samples []time.Duration

func (s samples) pct(p float64) time.Duration {
	x := slices.Clone(s)
	slices.Sort(x)
	i := int(p*float64(len(x)-1) + 0.5)
	return x[i]
}

func (s samples) String() string {
	if len(s) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %v p99 %v (n=%d)", s.pct(0.5).Round(10*time.Microsecond), s.pct(0.99).Round(10*time.Microsecond), len(s))
}

// cycles injects carrier losses alternately on the member holding the
// address (p3 while it is on eth3, p2 while on eth2) and records the time
// from the injection to the switch record, and, when eth3 failed, to the
// route record of 198.18.10.0/24.
func cycles(t *testing.T, d *daemonLab, p *proc, n int, sw, rt *samples, onEth3 *bool) {
	cycles2(t, d, p, p, n, sw, rt, onEth3)
}

// cycles2 is cycles with the switch records read from p and the route
// records from q (failoverd and routeguard running side by side).
func cycles2(t *testing.T, d *daemonLab, p, q *proc, n int, sw, rt *samples, onEth3 *bool) {
	for range n {
		quiet(t, p)
		quiet(t, q)
		if rt != nil && (sw == nil || p != q) {
			// routeguard: the prefix must be on eth3 to be moved off it.
			all := q.recs.since(0)
			if len(all) > 0 && all[len(all)-1]["interface"] != "eth3" {
				q.recs.wait(t, len(all), map[string]any{"event": "route", "interface": "eth3"})
				quiet(t, q)
			}
		}
		port, from, to := "p2", "eth2", "eth3"
		if *onEth3 {
			port, from, to = "p3", "eth3", "eth2"
		}
		mark, qmark := p.recs.len(), q.recs.len()
		t0 := time.Now()
		require.NoError(t, d.sw.SetDown(port))
		if sw != nil {
			_, _, at := p.recs.wait(t, mark, map[string]any{"event": "switch", "from": from, "to": to})
			*sw = append(*sw, at.Sub(t0))
			*onEth3 = !*onEth3
		}
		if rt != nil && from == "eth3" {
			_, _, at := q.recs.wait(t, qmark, map[string]any{"event": "route", "dst": "198.18.10.0/24", "interface": "eth2", "reason": "link-down"})
			*rt = append(*rt, at.Sub(t0))
		}
		mark, qmark = p.recs.len(), q.recs.len()
		require.NoError(t, d.sw.SetUp(port))
		if sw != nil {
			p.recs.wait(t, mark, map[string]any{"event": "health", "interface": from, "state": "up"})
		}
		if rt != nil && from == "eth3" {
			q.recs.wait(t, qmark, map[string]any{"event": "route", "dst": "198.18.10.0/24", "interface": "eth3", "reason": "recovered"})
		}
		// Let the targets behind the restored link answer again (the
		// neighbour entries were flushed with the carrier, and a loss
		// longer than 3 probes takes the IP verdict down): wait for quiet.
		quiet(t, p)
		quiet(t, q)
	}
}

// quiet waits until p printed nothing for 400ms, and for the address
// (when it is tracked) and the routes to settle.
func quiet(t *testing.T, p *proc) {
	deadline := time.Now().Add(10 * time.Second)
	n, since := p.recs.len(), time.Now()
	for time.Since(since) < 400*time.Millisecond {
		require.True(t, time.Now().Before(deadline), "no quiet within 10s")
		time.Sleep(20 * time.Millisecond)
		if m := p.recs.len(); m != n {
			n, since = m, time.Now()
		}
	}
}

// TestMeasure compares, in one run and one lab, the failover and steering
// times through netpulsed with failoverd and routeguard on the same
// interfaces, targets and probe settings (10 ms, 3 misses), and measures
// netpulsed's idle CPU and memory with 2 groups, 2 subnets and 4 targets
// at 10 ms (failoverd and routeguard idle as the same-run baseline).
func TestMeasure(t *testing.T) {
	if os.Getenv(measureEnv) != "1" {
		t.Skipf("set %s=1 (and hold /tmp/netpulse-bench.lock) to measure", measureEnv)
	}
	d := buildDaemonLab(t)
	bin := binary(t)
	dir := t.TempDir()
	failoverd := buildExample(t, dir, "failoverd")
	routeguard := buildExample(t, dir, "routeguard")
	cfg := filepath.Join(dir, "n.yaml")
	sock := filepath.Join(dir, "s.sock")
	writeFile(t, cfg, labConfig(d.node.Path(), "", "1s", sock, freePort(t), "1s", ""), 0o644)
	ns := newNotifySocket(t, dir)
	fdArgs := []string{"-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24",
		"-target", "eth3=198.18.10.200", "-target", "eth2=198.18.10.200", "-interval", "10ms", "-timeout", "50ms",
		"-failback", "never", "-json", "-netns", d.node.Path()}
	rgArgs := []string{"-i", "eth3,eth2", "-target", "eth3=198.18.10.200", "-target", "eth2=198.18.10.200",
		"-interval", "10ms", "-timeout", "50ms", "-json", "-netns", d.node.Path()}

	idle := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("NETPULSED_IDLE")); err == nil {
		idle = v
	}
	idleOf := func(p *proc) (float64, int64) {
		c0, _ := cpuRSS(t, p.cmd.Process.Pid)
		time.Sleep(idle)
		c1, rss := cpuRSS(t, p.cmd.Process.Pid)
		return 100 * float64(c1-c0) / float64(idle), rss
	}
	where := func() bool { // is the address on eth3 now?
		return slices.Contains(addrsOn(t, d.node, "eth3"), mustPrefix("198.18.10.50/24"))
	}

	var npSw, npRt, fdSw, rgRt, bothSw, bothRt samples
	var npCPU, fdCPU, rgCPU float64
	var npRSS, fdRSS, rgRSS int64
	for block := range 2 {
		np := startProc(t, bin, []string{"NOTIFY_SOCKET=" + ns.path}, "-config", cfg)
		ns.wait(t, "READY=1", 15*time.Second)
		if block == 0 {
			npCPU, npRSS = idleOf(np)
		}
		on := where()
		cycles(t, d, np, 15, &npSw, &npRt, &on)
		np.stop(t)

		fd := startProc(t, failoverd, nil, fdArgs...)
		fd.recs.wait(t, 0, map[string]any{"event": "health", "interface": "eth2", "state": "up"})
		fd.waitAlive(t, "eth3", "eth2")
		if block == 0 {
			fdCPU, fdRSS = idleOf(fd)
		}
		on = where()
		cycles(t, d, fd, 15, &fdSw, nil, &on)
		fd.stop(t)

		rg := startProc(t, routeguard, nil, rgArgs...)
		waitWatchers(t, d, 1)
		if block == 0 {
			rgCPU, rgRSS = idleOf(rg)
		}
		on = true
		cycles(t, d, rg, 8, nil, &rgRt, &on)
		rg.stop(t)

		// failoverd and routeguard side by side: both jobs at once, as
		// netpulsed does them.
		fd = startProc(t, failoverd, nil, fdArgs...)
		rg = startProc(t, routeguard, nil, rgArgs...)
		fd.recs.wait(t, 0, map[string]any{"event": "health", "interface": "eth2", "state": "up"})
		fd.waitAlive(t, "eth3", "eth2")
		waitWatchers(t, d, 2) // failoverd's and routeguard's
		on = where()
		cycles2(t, d, fd, rg, 15, &bothSw, &bothRt, &on)
		fd.stop(t)
		rg.stop(t)
	}
	t.Logf("failover (carrier loss -> switch record): netpulsed %v; failoverd %v; failoverd beside routeguard %v", npSw, fdSw, bothSw)
	t.Logf("steering (carrier loss -> route record):  netpulsed %v; routeguard %v; routeguard beside failoverd %v", npRt, rgRt, bothRt)
	t.Logf("idle over %v: netpulsed (2 groups, 2 subnets, 4 targets at 10ms) %.2f%% of a core, RSS %.1f MiB; failoverd (1 group, 2 targets) %.2f%%, %.1f MiB; routeguard (1 subnet, 2 targets) %.2f%%, %.1f MiB",
		idle, npCPU, float64(npRSS)/(1<<20), fdCPU, float64(fdRSS)/(1<<20), rgCPU, float64(rgRSS)/(1<<20))
	require.Len(t, npSw, 30)
	require.Len(t, fdSw, 30)
}
