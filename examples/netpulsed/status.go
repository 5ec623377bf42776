package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// statusReport is what `netpulsed status -json` prints: one JSON object.
type statusReport struct {
	Time    string         `json:"time"`
	Config  string         `json:"config"`
	Started string         `json:"started"`
	Reloads uint64         `json:"reloads"`
	Groups  []groupStatus  `json:"groups"`
	Subnets []subnetStatus `json:"subnets"`
	Hooks   hookStatus     `json:"hooks"`
}

type groupStatus struct {
	Name            string         `json:"name"`
	State           string         `json:"state"` // up | subnet-down | unknown
	Addresses       []string       `json:"addresses"`
	Active          string         `json:"active"` // "" until placed
	Failback        string         `json:"failback"`
	FailbackPending bool           `json:"failback_pending"`
	Switches        uint64         `json:"switches"`
	LastSwitch      string         `json:"last_switch,omitempty"`
	LastReason      string         `json:"last_reason,omitempty"`
	LastError       string         `json:"last_error,omitempty"`
	Members         []memberStatus `json:"members"`
}

type memberStatus struct {
	Name     string `json:"name"`
	Role     string `json:"role"` // primary | standby
	Active   bool   `json:"active"`
	Health   string `json:"health"`  // up | link-down | ip-down | disabled | unknown
	Failure  string `json:"failure"` // none | link+ip | ip_only
	Link     string `json:"link"`    // up | down | unknown
	IP       string `json:"ip"`      // alive | dead | unverified | unknown
	Disabled bool   `json:"disabled"`
	Since    string `json:"since,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

type subnetStatus struct {
	Prefix      string         `json:"prefix"`
	Interfaces  []string       `json:"interfaces"`
	IPMonitor   bool           `json:"ip_monitor"`
	SteerRoutes bool           `json:"steer_routes"`
	Interface   string         `json:"interface"` // the interface the prefix now uses ("" when not steered by netpulsed)
	Natural     string         `json:"natural"`   // the one the kernel would use on its own
	Steered     bool           `json:"steered"`
	Reason      string         `json:"reason,omitempty"`
	Targets     []targetStatus `json:"targets"`
}

type targetStatus struct {
	Interface string  `json:"interface"`
	Target    string  `json:"target"`
	State     string  `json:"state"` // up | down | unverified | unknown
	RTTMicros int64   `json:"rtt_us"`
	Loss      float64 `json:"loss"`
}

type hookStatus struct {
	Exec     string `json:"exec,omitempty"`
	Runs     uint64 `json:"runs"`
	Failures uint64 `json:"failures"`
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// since prints a record time as local-free short form.
func since(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return dash(s)
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// writeTable prints the report in the spirit of Serviceguard's cmviewcl.
func writeTable(w io.Writer, r statusReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\tSTATE\tACTIVE\tFAILBACK\tADDRESSES\n")
	for _, g := range r.Groups {
		fb := g.Failback
		if g.FailbackPending {
			fb += " (pending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Name, g.State, dash(g.Active), fb, strings.Join(g.Addresses, ","))
	}
	tw.Flush()
	for _, g := range r.Groups {
		fmt.Fprintf(w, "\n  GROUP %s\n", g.Name)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "    MEMBER\tROLE\tACTIVE\tHEALTH\tFAILURE\tLINK\tIP\tSINCE\tREASON\n")
		for _, m := range g.Members {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Role, yesNo(m.Active), m.Health, m.Failure, m.Link, m.IP, since(m.Since), dash(m.Reason))
		}
		tw.Flush()
	}
	if len(r.Subnets) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "SUBNET\tINTERFACES\tIP_MONITOR\tSTEER\tUSES\tSTEERED\tREASON\n")
		for _, s := range r.Subnets {
			mon := "off"
			if s.IPMonitor {
				mon = "on"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Prefix, strings.Join(s.Interfaces, ","), mon, yesNo(s.SteerRoutes), dash(s.Interface), yesNo(s.Steered), dash(s.Reason))
		}
		tw.Flush()
		for _, s := range r.Subnets {
			if len(s.Targets) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n  SUBNET %s\n", s.Prefix)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "    POLLING_TARGET\tINTERFACE\tSTATE\tRTT\tLOSS\n")
			for _, t := range s.Targets {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%v\t%.0f%%\n", t.Target, t.Interface, t.State, time.Duration(t.RTTMicros)*time.Microsecond, 100*t.Loss)
			}
			tw.Flush()
		}
	}
	fmt.Fprintf(w, "\nhooks: %d run, %d failed; reloads: %d; config %s; up since %s\n", r.Hooks.Runs, r.Hooks.Failures, r.Reloads, r.Config, since(r.Started))
}

// controlServer answers "status" on a unix socket with the report as one
// JSON line.
type controlServer struct {
	ln     net.Listener
	path   string
	report func() statusReport
	log    *slog.Logger
	wg     sync.WaitGroup
}

// listenControl opens the socket at path. A socket file left by a daemon
// that died is replaced; a live one is an error (another daemon runs).
func listenControl(path string, report func() statusReport, log *slog.Logger) (*controlServer, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another netpulsed answers there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &controlServer{ln: ln, path: path, report: report, log: log}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *controlServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("control socket", "err", err)
			}
			return
		}
		s.wg.Go(func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "status" {
				fmt.Fprintf(c, "{\"error\":%q}\n", "unknown request: want \"status\"")
				return
			}
			b, _ := json.Marshal(s.report())
			c.Write(append(b, '\n'))
		})
	}
}

// close stops the server and removes the socket file.
func (s *controlServer) close() {
	s.ln.Close()
	s.wg.Wait()
	os.Remove(s.path)
}

// queryStatus asks the daemon at path for its report.
func queryStatus(path string) (statusReport, []byte, error) {
	var r statusReport
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return r, nil, fmt.Errorf("is netpulsed running? %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "status\n"); err != nil {
		return r, nil, err
	}
	b, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return r, nil, fmt.Errorf("reading the answer: %w", err)
	}
	var probe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.Error != "" {
		return r, nil, errors.New(probe.Error)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return r, b, nil
}
