package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/metrics"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1 // a config error, a permanent error (missing capability or member), a failed action at start
	exitUsage  = 2 // a bad command line
	noticeBuff = 4096
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return cmdCheck(args[1:], stdout, stderr)
		case "status":
			return cmdStatus(args[1:], stdout, stderr)
		}
	}
	return cmdRun(args, stdout, stderr)
}

func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "netpulsed: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	return -1
}

// load parses the file and makes the kernel checks; every error is printed.
func load(ctx context.Context, path string, stderr io.Writer) (*config, bool) {
	c, err := loadConfig(path)
	if err == nil {
		if errs := checkKernel(ctx, c); len(errs) > 0 {
			err = errs
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	return c, true
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("netpulsed check", stderr)
	path := fs.String("config", "/etc/netpulsed.yaml", "the configuration `FILE`")
	if rc := parse(fs, args); rc >= 0 {
		return rc
	}
	c, ok := load(context.Background(), *path, stderr)
	if !ok {
		return exitError
	}
	fmt.Fprintf(stdout, "%s: ok: %d groups, %d subnets\n", *path, len(c.Groups), len(c.Subnets))
	return exitOK
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("netpulsed status", stderr)
	path := fs.String("socket", defaultSocket, "the daemon's control socket `PATH`")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if rc := parse(fs, args); rc >= 0 {
		return rc
	}
	r, raw, err := queryStatus(*path)
	if err != nil {
		fmt.Fprintln(stderr, "netpulsed status:", err)
		return exitError
	}
	if *asJSON {
		stdout.Write(raw)
		return exitOK
	}
	writeTable(stdout, r)
	return exitOK
}

// notice is one thing the daemon reports: a record of the contract
// (Event set: health, switch, route, subnet), which also runs the hook, or
// a text line only.
type notice struct {
	Time                                                       time.Time
	Event                                                      string
	Group, Interface, State, Failure, From, To, Reason, Prefix string
	Addresses                                                  []string
	Records                                                    []any // the JSON lines
	Text                                                       string
	Error                                                      bool // a failed action: to standard error
}

// subnetRecord is the record of a group's subnet-down state.
type subnetRecord struct {
	Time  string `json:"time"`
	Event string `json:"event"`
	Group string `json:"group"`
	State string `json:"state"`
}

// output prints notices: records as JSON lines (log.json) or text lines
// on standard output; other messages on standard error.
type output struct {
	mu   sync.Mutex
	w    io.Writer
	errw io.Writer
	json bool
	jw   *jsonl.Writer
}

func (o *output) setJSON(b bool) {
	o.mu.Lock()
	o.json = b
	o.mu.Unlock()
}

func (o *output) write(n notice) {
	o.mu.Lock()
	defer o.mu.Unlock()
	line := jsonl.Stamp(n.Time) + " " + n.Text + "\n"
	switch {
	case n.Error:
		io.WriteString(o.errw, line)
	case o.json && len(n.Records) > 0:
		for _, r := range n.Records {
			o.jw.Write(r)
		}
	case o.json:
		io.WriteString(o.errw, line)
	default:
		io.WriteString(o.w, line)
	}
}

// readyBound is how long the daemon waits for the initial state before
// it declares itself ready anyway (saying what is still unknown).
func readyBound(c *config) time.Duration {
	d := 2 * time.Second
	for _, s := range c.Subnets {
		p := s.Probe
		if x := time.Duration(p.FailAfter+p.RecoverAfter+1)*p.Interval + p.Timeout; x > d {
			d = x
		}
	}
	return min(d+2*time.Second, time.Minute)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("netpulsed", stderr)
	path := fs.String("config", "", "the configuration `FILE` (required)")
	if rc := parse(fs, args); rc >= 0 {
		return rc
	}
	if *path == "" {
		fmt.Fprintln(stderr, "netpulsed: -config FILE is required (or: netpulsed check|status)")
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, ok := load(ctx, *path, stderr)
	if !ok {
		return exitError
	}
	out := &output{w: stdout, errw: stderr, json: cfg.JSON, jw: jsonl.NewWriter(stdout)}
	hk := newHooks(cfg.Notify, log)
	defer hk.close()
	notices := make(chan notice, noticeBuff)
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		for n := range notices {
			out.write(n)
			if n.Event != "" {
				hk.push(n)
			}
		}
	}()
	emit := func(n notice) { notices <- n }
	finish := func() { close(notices); <-dispatched }

	eng, err := startEngine(ctx, cfg, log, emit)
	if err != nil {
		finish()
		fmt.Fprintln(stderr, "netpulsed:", err)
		return exitError
	}
	started := time.Now()
	var reloads uint64
	var mu sync.Mutex // cfg, reloads
	report := func() statusReport {
		r := eng.status()
		mu.Lock()
		r.Config, r.Started, r.Reloads = cfg.file, jsonl.Stamp(started), reloads
		r.Hooks = hookStatus{Exec: cfg.Notify.Exec, Runs: hk.runs.Load(), Failures: hk.failures()}
		mu.Unlock()
		return r
	}
	shutdown := func() int {
		rc := exitOK
		for _, g := range eng.status().Groups {
			if g.Active != "" {
				log.Info("exiting; the addresses stay", "group", g.Name, "addresses", g.Addresses, "on", g.Active)
			}
		}
		if err := eng.close(false); err != nil {
			fmt.Fprintln(stderr, "netpulsed:", err)
			rc = exitError
		}
		finish()
		return rc
	}

	var srv *http.Server
	if cfg.Metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics.NewCollector(eng.metricsSources(hk.failures)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
		ln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			shutdown()
			fmt.Fprintf(stderr, "netpulsed: metrics: %v\n", err)
			return exitError
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	ctl, err := listenControl(cfg.Socket, report, log)
	if err != nil {
		shutdown()
		fmt.Fprintln(stderr, "netpulsed:", err)
		return exitError
	}
	defer ctl.close()

	// READY=1 once the addresses are placed and the targets' state known.
	deadline := time.Now().Add(readyBound(cfg))
	for {
		done, waiting := eng.placed()
		if done {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log.Warn("ready with state still unknown", "waiting for", waiting)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	daemon.SdNotify(false, "READY=1\nSTATUS="+eng.summary())
	log.Info("ready", "groups", len(cfg.Groups), "subnets", len(cfg.Subnets), "status", eng.summary())

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var wdog <-chan time.Time
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		wt := time.NewTicker(iv / 2)
		defer wt.Stop()
		wdog = wt.C
	}
	for {
		select {
		case <-ctx.Done():
			daemon.SdNotify(false, "STOPPING=1")
			return shutdown()
		case <-tick.C:
			daemon.SdNotify(false, "STATUS="+eng.summary())
		case <-wdog:
			// The engine answering its status is the liveness the
			// watchdog checks.
			eng.status()
			daemon.SdNotify(false, "WATCHDOG=1")
		case <-hup:
			daemon.SdNotify(false, "RELOADING=1")
			nc, ok := load(ctx, *path, stderr)
			if ok {
				mu.Lock()
				old := cfg
				mu.Unlock()
				switch {
				case nc.NetNS != old.NetNS:
					fmt.Fprintf(stderr, "%s: netns changed: a restart is needed\n", *path)
					ok = false
				case nc.Metrics != old.Metrics:
					fmt.Fprintf(stderr, "%s: metrics.listen changed: a restart is needed\n", *path)
					ok = false
				case nc.Socket != old.Socket:
					fmt.Fprintf(stderr, "%s: control.socket changed: a restart is needed\n", *path)
					ok = false
				}
			}
			if !ok {
				log.Error("reload refused: the running configuration stays", "config", *path)
				daemon.SdNotify(false, "READY=1\nSTATUS=reload refused (see the log); "+eng.summary())
				continue
			}
			if err := eng.apply(ctx, nc); err != nil {
				log.Error("reload: applying failed", "err", err)
			} else {
				log.Info("reloaded", "config", *path, "groups", len(nc.Groups), "subnets", len(nc.Subnets))
			}
			hk.setConfig(nc.Notify)
			out.setJSON(nc.JSON)
			mu.Lock()
			cfg = nc
			reloads++
			mu.Unlock()
			daemon.SdNotify(false, "READY=1\nSTATUS="+eng.summary())
		}
	}
}
