//go:build linux

// Command ipbench measures ipmon against Debian's fping and against the
// issue's goals, in namespaces of its own (a named netlab lab, so that fping
// can run inside with `ip netns exec`). Run it as root through run.sh, which
// installs fping first:
//
//	bash internal/ipbench/run.sh
//
// Every figure is measured in the same run, in the same lab.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"golang.org/x/sys/unix"
)

func main() {
	var (
		only    = flag.String("only", "", "comma-separated subset of fping,maxrate,scale,detect (default all)")
		rounds  = flag.Int("compare-repeats", 5, "repetitions of the fping comparison (median reported)")
		scaleD  = flag.Duration("scale-duration", 30*time.Second, "duration of the scale run")
		trials  = flag.Int("detect-trials", 100, "detection trials")
		targets = flag.Int("targets", 1000, "targets in the fping comparison")
		prof    = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	)
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	want := func(name string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), name)
	}
	lab, err := netlab.Open(netlab.Config{Named: true})
	check(err)
	defer lab.Close()
	pair, err := lab.NewIPMonPair("", 50)
	check(err)
	// The server answers for 198.18.64.0/18 (16,384 addresses), routed to it.
	many := netip.MustParsePrefix("198.18.64.0/18")
	check(pair.Server.AddLocalRoute(many))
	check(pair.Node.AddRoute(netlab.Route{Dst: many, Gateway: pair.ServerAddr4, Dev: pair.NodeDev}))
	addrs := func(n int) []netip.Addr {
		out := make([]netip.Addr, n)
		a := many.Addr().Next()
		for i := range out {
			out[i] = a
			a = a.Next()
		}
		return out
	}
	fmt.Printf("ipbench: %s, GOMAXPROCS %d, %d CPUs\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())

	if want("fping") {
		compareFping(pair, addrs(*targets), *rounds)
	}
	if want("maxrate") {
		maxRate(pair, addrs(*targets))
	}
	if want("scale") {
		scale(pair, addrs(10000), *scaleD)
	}
	if want("detect") {
		detect(pair, *trials)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipbench:", err)
		os.Exit(1)
	}
}

// cpu returns this process's user+system CPU time.
func cpu() time.Duration {
	u, s := cpuSplit()
	return u + s
}

// cpuSplit returns this process's user and system CPU time.
func cpuSplit() (user, sys time.Duration) {
	var ru unix.Rusage
	check(unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// floor measures a bare Go prober in the same lab, the kind KERNEL-FACTS.md
// quotes: one raw socket bound to the interface, a 1 ms ticker, sendto per
// probe and a non-blocking recvfrom loop, no validation. Most of its cost
// is the kernel's round trip as charged to the sending process (on a veth
// the target's reply is computed in the sender's softirq).
func floor(pair *netlab.IPMonPair, addrs []netip.Addr, rate int, d time.Duration) time.Duration {
	var fd int
	check(pair.Node.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK, unix.IPPROTO_ICMP)
		return err
	}))
	defer unix.Close(fd)
	check(unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, pair.NodeDev))
	pkt := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 0, 'f', 'l', 'o', 'o', 'r', 0, 0, 0}
	buf := make([]byte, 1500)
	sas := make([]unix.SockaddrInet4, len(addrs))
	for i, a := range addrs {
		sas[i] = unix.SockaddrInet4{Addr: a.As4()}
	}
	perTick := rate / 1000
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	c0, t0 := cpu(), time.Now()
	sent, seq := 0, 0
	for time.Since(t0) < d {
		<-tick.C
		for range perTick {
			seq++
			pkt[6], pkt[7] = byte(seq>>8), byte(seq)
			pkt[2], pkt[3] = 0, 0
			var sum uint32
			for i := 0; i < len(pkt); i += 2 {
				sum += uint32(pkt[i])<<8 | uint32(pkt[i+1])
			}
			sum = sum&0xffff + sum>>16
			sum = sum&0xffff + sum>>16
			pkt[2], pkt[3] = byte(^sum>>8), byte(^sum)
			if unix.Sendto(fd, pkt, 0, &sas[seq%len(sas)]) == nil {
				sent++
			}
		}
		for {
			if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
				break
			}
		}
	}
	return (cpu() - c0) * 1000 / time.Duration(max(sent, 1))
}

func openPoller(pair *netlab.IPMonPair, cfg ipmon.Config) *ipmon.Poller {
	cfg.NetNS = pair.Node.FD()
	p, err := ipmon.Open(context.Background(), &cfg)
	check(err)
	return p
}

// runNetpulse probes every address count times at interval and returns the
// CPU used from the first send to the last reply, the probes sent and the
// replies received.
func runNetpulse(pair *netlab.IPMonPair, addrs []netip.Addr, interval, timeout time.Duration, count int) (time.Duration, time.Duration, uint64, uint64) {
	p := openPoller(pair, ipmon.Config{Interval: interval, Timeout: timeout, FailAfter: 3})
	defer p.Close()
	for _, a := range addrs {
		check(p.Add(ipmon.Target{Addr: a, Interface: pair.NodeDev}))
	}
	// Steady state: let every target get going (first sends are spread
	// over one interval), then measure count rounds. Adding targets (a
	// netlink dump per Add) is not what is measured.
	time.Sleep(2*interval + 100*time.Millisecond)
	runtime.GC()
	s0 := p.Snapshot()
	c0, t0 := cpu(), time.Now()
	// Sleep through the rounds (polling Snapshot would add its own cost).
	time.Sleep(time.Duration(count) * interval)
	c1, t1 := cpu(), time.Now()
	s := p.Snapshot()
	return c1 - c0, t1.Sub(t0), s.Sent - s0.Sent, s.Received - s0.Received
}

// runFping runs fping inside the node's namespace and returns its CPU time
// (user+system of the child), wall time, and the summary line.
func runFping(pair *netlab.IPMonPair, addrs []netip.Addr, args ...string) (time.Duration, time.Duration, string) {
	argv := append([]string{"netns", "exec", strings.TrimPrefix(pair.Node.Path(), "/var/run/netns/"), "fping"}, args...)
	for _, a := range addrs {
		argv = append(argv, a.String())
	}
	cmd := exec.Command("ip", argv...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if cmd.ProcessState == nil {
		check(fmt.Errorf("fping: %v", err))
	}
	// fping exits 1 if some target did not answer every probe: not fatal.
	c := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	sum := fpingSummary(out.String())
	if strings.HasPrefix(sum, "0 targets") {
		o := out.String()
		fmt.Printf("fping failed (%v): %s\n", err, o[:min(len(o), 400)])
	}
	return c, wall, sum
}

// fpingSummary totals fping's -q per-target lines "addr : xmt/rcv/%loss = 10/10/0%...".
func fpingSummary(out string) string {
	var xmt, rcv, lines int
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, "xmt/rcv/%loss = ")
		if i < 0 {
			continue
		}
		var x, r int
		if _, err := fmt.Sscanf(l[i+len("xmt/rcv/%loss = "):], "%d/%d", &x, &r); err == nil {
			xmt += x
			rcv += r
			lines++
		}
	}
	return fmt.Sprintf("%d targets, %d sent, %d received", lines, xmt, rcv)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func compareFping(pair *netlab.IPMonPair, addrs []netip.Addr, repeats int) {
	const rounds = 10
	period := 100 * time.Millisecond // per target: 1,000 targets -> 10,000 probes/s
	gap := period / time.Duration(len(addrs))
	fmt.Printf("\n== fping comparison: %d targets x %d rounds, %v per target (%.0f probes/s), %d repeats\n",
		len(addrs), rounds, period, float64(len(addrs))/period.Seconds(), repeats)
	var npCPU, fpCPU []time.Duration
	for i := range repeats {
		c, wall, sent, rcv := runNetpulse(pair, addrs, period, period, rounds)
		per := c * 1000 / time.Duration(max(sent, 1))
		npCPU = append(npCPU, per)
		fmt.Printf("netpulse run %d: cpu %v wall %v sent %d received %d -> %v CPU per 1,000 probes\n", i, c.Round(time.Millisecond), wall.Round(time.Millisecond), sent, rcv, per.Round(10*time.Microsecond))

		fc, fwall, sum := runFping(pair, addrs, "-q", "-c", fmt.Sprint(rounds), "-p", fmt.Sprint(period.Milliseconds()),
			"-i", fmt.Sprintf("%.3f", float64(gap.Microseconds())/1000), "-t", fmt.Sprint(period.Milliseconds()))
		fper := fc * 1000 / time.Duration(len(addrs)*rounds)
		fpCPU = append(fpCPU, fper)
		fmt.Printf("fping    run %d: cpu %v wall %v %s -> %v CPU per 1,000 probes\n", i, fc.Round(time.Millisecond), fwall.Round(time.Millisecond), sum, fper.Round(10*time.Microsecond))
	}
	// fping's figure above covers its whole process (start-up, expiry
	// wait); its marginal cost per probe removes the fixed part: the
	// difference between 10 rounds and 1 round.
	var fpMarg []time.Duration
	for range repeats {
		c10, _, _ := runFping(pair, addrs, "-q", "-c", fmt.Sprint(rounds), "-p", fmt.Sprint(period.Milliseconds()),
			"-i", fmt.Sprintf("%.3f", float64(gap.Microseconds())/1000), "-t", fmt.Sprint(period.Milliseconds()))
		c1, _, _ := runFping(pair, addrs, "-q", "-c", "1", "-p", fmt.Sprint(period.Milliseconds()),
			"-i", fmt.Sprintf("%.3f", float64(gap.Microseconds())/1000), "-t", fmt.Sprint(period.Milliseconds()))
		fpMarg = append(fpMarg, (c10-c1)*1000/time.Duration(len(addrs)*(rounds-1)))
	}
	var fl []time.Duration
	for range repeats {
		fl = append(fl, floor(pair, addrs, len(addrs)*int(time.Second/period), time.Second))
	}
	n, f, fm, b := median(npCPU), median(fpCPU), median(fpMarg), median(fl)
	fmt.Printf("fping marginal (10 rounds minus 1 round): %v per 1,000 probes (median of %d)\n", fm.Round(10*time.Microsecond), repeats)
	fmt.Printf("bare Go prober (one raw socket, sendto/recvfrom per probe, 1 ms ticker, no validation): %v per 1,000 probes (median of %d)\n", b.Round(10*time.Microsecond), repeats)
	fmt.Printf("RESULT fping-compare: netpulse %v, fping %v CPU per 1,000 probes (medians of %d); ratio netpulse/fping %.2f (goal <= 0.50); against fping's marginal cost %.2f; bare Go prober %v\n",
		n.Round(10*time.Microsecond), f.Round(10*time.Microsecond), repeats, float64(n)/float64(f), float64(n)/float64(fm), b.Round(10*time.Microsecond))
}

func maxRate(pair *netlab.IPMonPair, addrs []netip.Addr) {
	fmt.Printf("\n== maximum probe rate, %d targets\n", len(addrs))
	// netpulse: ask for far more than it can do (1 ms per target), for 3 s.
	c, wall, sent, rcv := runNetpulse(pair, addrs, time.Millisecond, time.Second, 3000)
	npRate := float64(sent) / wall.Seconds()
	fmt.Printf("netpulse: %d sent, %d received in %v (cpu %v): %.0f probes/s sent, %.0f replies/s\n",
		sent, rcv, wall.Round(time.Millisecond), c.Round(time.Millisecond), npRate, float64(rcv)/wall.Seconds())
	// fping: no gap between packets, 10 ms per target (its minimum), 60
	// rounds (fping refuses more than 65,535 probes in flight within its 10 s
	// expiry).
	_, fwall, sum := runFping(pair, addrs, "-q", "-c", "60", "-p", "10", "-i", "0", "-t", "100")
	var fsent int
	fmt.Sscanf(sum[strings.Index(sum, ",")+2:], "%d sent", &fsent)
	fRate := float64(fsent) / fwall.Seconds()
	fmt.Printf("fping: %s in %v: %.0f probes/s\n", sum, fwall.Round(time.Millisecond), fRate)
	fmt.Printf("RESULT maxrate: netpulse %.0f/s, fping %.0f/s (ratio %.2f, goal >= 1)\n", npRate, fRate, npRate/fRate)
}

func scale(pair *netlab.IPMonPair, addrs []netip.Addr, d time.Duration) {
	fmt.Printf("\n== scale: %d targets at 1 probe/s for %v on one interface\n", len(addrs), d)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	p := openPoller(pair, ipmon.Config{Interval: time.Second, Timeout: time.Second, FailAfter: 3})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := p.Subscribe(ctx)
	for _, a := range addrs {
		check(p.Add(ipmon.Target{Addr: a, Interface: pair.NodeDev}))
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perTarget := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(len(addrs))
	downs, ups := 0, 0
	go func() {
		for raw := range events {
			ev, ok := raw.(*ipmon.TargetEvent)
			if !ok {
				continue
			}
			switch ev.State {
			case ipmon.TargetDown, ipmon.TargetUnverified:
				downs++
			case ipmon.TargetUp:
				ups++
			}
		}
	}()
	time.Sleep(2 * time.Second) // every target probed at least once
	u0, k0 := cpuSplit()
	c0, t0 := u0+k0, time.Now()
	s0 := p.Snapshot()
	time.Sleep(d)
	u1, k1 := cpuSplit()
	c1, wall := u1+k1, time.Since(t0)
	s := p.Snapshot()
	cancel()
	time.Sleep(10 * time.Millisecond)
	var notUp int
	for _, ts := range s.Targets {
		if ts.State != ipmon.TargetUp {
			notUp++
		}
	}
	cpuPct := 100 * float64(c1-c0) / float64(wall)
	fmt.Printf("sent %d received %d overruns %d drops %+v; targets not up at the end: %d; down/unverified events: %d\n",
		s.Sent-s0.Sent, s.Received-s0.Received, s.Overruns, s.Drops, notUp, downs)
	fmt.Printf("CPU split: user %.2f%%, system %.2f%% (system includes the lab's kernel round trip: on a veth the target's reply is computed in the sender's softirq)\n",
		100*float64(u1-u0)/float64(wall), 100*float64(k1-k0)/float64(wall))
	p.Close()
	fl := floor(pair, addrs, len(addrs), 5*time.Second)
	fmt.Printf("bare Go prober at the same rate: %.2f%% of one core\n", 100*float64(fl)*float64(len(addrs))/1000/float64(time.Second))
	fmt.Printf("RESULT scale: CPU %.2f%% of one core (goal < 10%%), %d false downs, heap %.0f bytes per target\n", cpuPct, downs, perTarget)
}

func detect(pair *netlab.IPMonPair, trials int) {
	const interval, timeout, fail = 10 * time.Millisecond, 10 * time.Millisecond, 3
	fmt.Printf("\n== detection: interval %v, timeout %v, %d misses, %d trials of IP-level silence (bound %v)\n",
		interval, timeout, fail, trials, fail*interval+timeout)
	p := openPoller(pair, ipmon.Config{Interval: interval, Timeout: timeout, FailAfter: fail, RecoverAfter: 2})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := p.Subscribe(ctx)
	check(p.Add(ipmon.Target{Addr: pair.ServerAddr4, Interface: pair.NodeDev}))
	wait := func(st ipmon.TargetState) *ipmon.TargetEvent {
		to := time.After(10 * time.Second)
		for {
			select {
			case raw := <-ch:
				if ev, ok := raw.(*ipmon.TargetEvent); ok && ev.State == st {
					return ev
				}
			case <-to:
				check(fmt.Errorf("no %v event within 10 s", st))
			}
		}
	}
	wait(ipmon.TargetUp)
	var took []time.Duration
	for range trials {
		// Let the target settle up, at a random phase of the schedule.
		time.Sleep(50*time.Millisecond + time.Duration(time.Now().UnixNano()%int64(interval)))
		t0 := time.Now() // before the write: a conservative start
		check(pair.Server.Sysctl("net/ipv4/icmp_echo_ignore_all", "1"))
		ev := wait(ipmon.TargetDown)
		took = append(took, ev.Time.Sub(t0))
		check(pair.Server.Sysctl("net/ipv4/icmp_echo_ignore_all", "0"))
		wait(ipmon.TargetUp)
	}
	slices.Sort(took)
	pct := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	fmt.Printf("RESULT detect: p50 %v p90 %v p99 %v max %v over %d trials (goal p99 < 45ms; bound %v)\n",
		pct(0.5).Round(10*time.Microsecond), pct(0.9).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		took[len(took)-1].Round(10*time.Microsecond), len(took), fail*interval+timeout)
}
