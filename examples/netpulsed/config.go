package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds of the configurable values: a value outside is a config error.
const (
	minInterval   = time.Millisecond
	maxInterval   = time.Hour
	maxCount      = 100
	maxHoldDown   = 24 * time.Hour
	minHookTime   = 10 * time.Millisecond
	maxHookTime   = 10 * time.Minute
	defaultSocket = "/run/netpulsed.sock"
	defaultHook   = 5 * time.Second
)

// config is a parsed and checked configuration file.
type config struct {
	file    string
	NetNS   string
	Probe   probeConfig
	Subnets []subnetConfig
	Groups  []groupConfig
	Notify  notifyConfig
	Metrics string // listen address; "" means no metrics endpoint
	Socket  string
	JSON    bool

	// positions of values, for errors found after parsing (kernel checks).
	pos map[any]pos
}

// probeConfig are the probing parameters of a subnet's targets.
type probeConfig struct {
	Interval, Timeout       time.Duration
	FailAfter, RecoverAfter int
}

// subnetConfig is one subnets: entry (Serviceguard's SUBNET).
type subnetConfig struct {
	Prefix         netip.Prefix
	Interfaces     []string
	IPMonitor      bool
	PollingTargets []netip.Addr
	SteerRoutes    bool
	Probe          probeConfig

	line       int          // where the entry starts, for errors
	discovered []netip.Addr // first-hop routers found (checkKernel) when no polling target is given
}

// subnetTag names a subnet entry in config.pos by its line.
func subnetTag(line int) string { return fmt.Sprintf("#subnet@%d", line) }

// groupConfig is one groups: entry.
type groupConfig struct {
	Name      string
	Primary   string
	Standbys  []string
	Addresses []netip.Prefix
	Failback  string
	HoldDown  time.Duration
}

// members returns the primary then the standbys.
func (g groupConfig) members() []string { return append([]string{g.Primary}, g.Standbys...) }

// equal reports whether two group configurations are the same.
func (g groupConfig) equal(o groupConfig) bool {
	return g.Name == o.Name && g.Primary == o.Primary && slices.Equal(g.Standbys, o.Standbys) &&
		slices.Equal(g.Addresses, o.Addresses) && g.Failback == o.Failback && g.HoldDown == o.HoldDown
}

// equal reports whether two subnet configurations are the same.
func (s subnetConfig) equal(o subnetConfig) bool {
	return s.Prefix == o.Prefix && slices.Equal(s.Interfaces, o.Interfaces) && s.IPMonitor == o.IPMonitor &&
		slices.Equal(s.PollingTargets, o.PollingTargets) && s.SteerRoutes == o.SteerRoutes && s.Probe == o.Probe
}

// notifyConfig is the notify hook.
type notifyConfig struct {
	Exec    string
	Timeout time.Duration
}

// pos is a position in the file.
type pos struct{ line, col int }

// configError is one error at a position of a file.
type configError struct {
	file      string
	line, col int
	msg       string
}

func (e configError) Error() string {
	if e.line == 0 {
		return e.file + ": " + e.msg // the file itself (unreadable)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg)
}

// configErrors are every error found in a file; Error joins them by lines.
type configErrors []configError

func (es configErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// parser walks the YAML node tree, collecting errors with positions.
type parser struct {
	file string
	errs configErrors
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, configError{p.file, n.Line, n.Column, fmt.Sprintf(format, args...)})
}

// mapping calls fn for each key of a mapping node, refusing keys not in
// known and keys given twice.
func (p *parser) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping (key: value), got %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			p.errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k.Value, k, v)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s: want a single value, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list, got %s", what, kindName(n))
		return nil
	}
	return n.Content
}

func (p *parser) duration(n *yaml.Node, what string, lo, hi time.Duration) (time.Duration, bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: %q is not a duration (Go syntax, e.g. 500ms, 10s)", what, s)
		return 0, false
	}
	if d < lo || d > hi {
		p.errorf(n, "%s: %v is out of range [%v, %v]", what, d, lo, hi)
		return 0, false
	}
	return d, true
}

func (p *parser) count(n *yaml.Node, what string) (int, bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0, false
	}
	c, err := strconv.Atoi(s)
	if err != nil || c < 1 || c > maxCount {
		p.errorf(n, "%s: %q must be a whole number from 1 to %d", what, s, maxCount)
		return 0, false
	}
	return c, true
}

func (p *parser) boolean(n *yaml.Node, what string, words [2]string) (bool, bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case words[0], "true", "yes":
		return true, true
	case words[1], "false", "no":
		return false, true
	}
	p.errorf(n, "%s: %q must be %s or %s", what, s, words[0], words[1])
	return false, false
}

func (p *parser) ifname(n *yaml.Node, what string) (string, bool) {
	s, ok := p.scalar(n, what)
	if !ok {
		return "", false
	}
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/: \t") || s == "." || s == ".." {
		p.errorf(n, "%s: %q is not an interface name", what, s)
		return "", false
	}
	return s, true
}

func (p *parser) probe(n *yaml.Node, what string, base probeConfig) probeConfig {
	c := base
	timeoutSet := false
	p.mapping(n, what, []string{"interval", "timeout", "fail_after", "recover_after"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "interval":
			if d, ok := p.duration(v, what+".interval", minInterval, maxInterval); ok {
				c.Interval = d
			}
		case "timeout":
			if d, ok := p.duration(v, what+".timeout", minInterval, maxInterval); ok {
				c.Timeout, timeoutSet = d, true
			}
		case "fail_after":
			if x, ok := p.count(v, what+".fail_after"); ok {
				c.FailAfter = x
			}
		case "recover_after":
			if x, ok := p.count(v, what+".recover_after"); ok {
				c.RecoverAfter = x
			}
		}
	})
	if !timeoutSet && base.Timeout == base.Interval {
		c.Timeout = c.Interval // the timeout follows the interval unless set
	}
	return c
}

// parseConfig parses and checks a configuration file's contents (without
// the checks that need the kernel: see checkKernel). name is used in
// errors. The error is configErrors.
func parseConfig(name string, data []byte) (*config, error) {
	p := &parser{file: name}
	c := &config{file: name, Socket: defaultSocket, pos: map[any]pos{},
		Probe:  probeConfig{Interval: time.Second, Timeout: time.Second, FailAfter: 3, RecoverAfter: 2},
		Notify: notifyConfig{Timeout: defaultHook}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		var te *yaml.TypeError
		msg := err.Error()
		if !errors.As(err, &te) {
			// "yaml: line N: message"
			var rest string
			if n, _ := fmt.Sscanf(msg, "yaml: line %d:", &line); n == 1 {
				if i := strings.Index(msg, ": "); i >= 0 {
					rest = msg[i+2:]
					if j := strings.Index(rest, ": "); j >= 0 {
						rest = rest[j+2:]
					}
				}
				msg = rest
			}
		}
		return nil, configErrors{{name, line, 1, "not YAML: " + msg}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, configErrors{{name, 1, 1, "empty file: at least one group or subnet is needed"}}
	}
	root := doc.Content[0]
	// The probe defaults are needed before the subnets that inherit them.
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "probe" {
				c.Probe = p.probe(root.Content[i+1], "probe", c.Probe)
			}
		}
	}
	p.mapping(root, "the file", []string{"netns", "probe", "subnets", "groups", "notify", "metrics", "control", "log"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "netns":
			if s, ok := p.scalar(v, "netns"); ok {
				if !filepath.IsAbs(s) {
					p.errorf(v, "netns: %q must be an absolute path, e.g. /var/run/netns/NAME", s)
				}
				c.NetNS = s
				c.pos["netns"] = pos{v.Line, v.Column}
			}
		case "probe": // done above
		case "subnets":
			for _, sn := range p.list(v, "subnets") {
				c.Subnets = append(c.Subnets, p.subnet(c, sn))
			}
		case "groups":
			for _, gn := range p.list(v, "groups") {
				c.Groups = append(c.Groups, p.group(c, gn))
			}
		case "notify":
			p.mapping(v, "notify", []string{"exec", "timeout"}, func(key string, _, v *yaml.Node) {
				switch key {
				case "exec":
					if s, ok := p.scalar(v, "notify.exec"); ok {
						c.Notify.Exec = s
						if !filepath.IsAbs(s) {
							p.errorf(v, "notify.exec: %q must be an absolute path", s)
						} else if st, err := os.Stat(s); err != nil {
							p.errorf(v, "notify.exec: %v", err)
						} else if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
							p.errorf(v, "notify.exec: %s is not an executable file", s)
						}
					}
				case "timeout":
					if d, ok := p.duration(v, "notify.timeout", minHookTime, maxHookTime); ok {
						c.Notify.Timeout = d
					}
				}
			})
		case "metrics":
			p.mapping(v, "metrics", []string{"listen"}, func(_ string, _, v *yaml.Node) {
				if s, ok := p.scalar(v, "metrics.listen"); ok {
					if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
						p.errorf(v, "metrics.listen: %q is not HOST:PORT, e.g. 127.0.0.1:9310", s)
					}
					c.Metrics = s
				}
			})
		case "control":
			p.mapping(v, "control", []string{"socket"}, func(_ string, _, v *yaml.Node) {
				if s, ok := p.scalar(v, "control.socket"); ok {
					if !filepath.IsAbs(s) {
						p.errorf(v, "control.socket: %q must be an absolute path", s)
					}
					c.Socket = s
				}
			})
		case "log":
			p.mapping(v, "log", []string{"json"}, func(_ string, _, v *yaml.Node) {
				if b, ok := p.boolean(v, "log.json", [2]string{"true", "false"}); ok {
					c.JSON = b
				}
			})
		}
	})
	if len(p.errs) == 0 && len(c.Subnets) == 0 && len(c.Groups) == 0 {
		p.errorf(root, "nothing to do: give at least one group or subnet")
	}
	p.crossChecks(c)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return c, nil
}

func (p *parser) subnet(c *config, n *yaml.Node) subnetConfig {
	s := subnetConfig{IPMonitor: true, SteerRoutes: true, Probe: c.Probe, line: n.Line}
	what := fmt.Sprintf("subnet at line %d", n.Line)
	have := map[string]bool{}
	p.mapping(n, "subnet", []string{"prefix", "interfaces", "ip_monitor", "polling_targets", "steer_routes", "probe"}, func(key string, _, v *yaml.Node) {
		have[key] = true
		switch key {
		case "prefix":
			str, ok := p.scalar(v, "prefix")
			if !ok {
				return
			}
			pf, err := netip.ParsePrefix(str)
			switch {
			case err != nil:
				p.errorf(v, "prefix: %q is not a prefix (e.g. 198.18.10.0/24, 2001:db8:10::/64)", str)
			case pf != pf.Masked():
				p.errorf(v, "prefix: %v has host bits set; the subnet is %v", pf, pf.Masked())
			case pf.IsSingleIP():
				p.errorf(v, "prefix: %v is a host prefix; a subnet is needed", pf)
			default:
				s.Prefix = pf
				what = "subnet " + pf.String()
				c.pos[s.Prefix] = pos{v.Line, v.Column}
			}
		case "interfaces":
			for _, in := range p.list(v, "interfaces") {
				if name, ok := p.ifname(in, "interfaces"); ok {
					if slices.Contains(s.Interfaces, name) {
						p.errorf(in, "interfaces: %s listed twice", name)
						continue
					}
					s.Interfaces = append(s.Interfaces, name)
					c.pos[memberKey{subnetTag(n.Line), name}] = pos{in.Line, in.Column}
				}
			}
		case "ip_monitor":
			if b, ok := p.boolean(v, "ip_monitor", [2]string{"on", "off"}); ok {
				s.IPMonitor = b
			}
		case "polling_targets":
			for _, tn := range p.list(v, "polling_targets") {
				str, ok := p.scalar(tn, "polling_targets")
				if !ok {
					continue
				}
				a, err := netip.ParseAddr(str)
				switch {
				case err != nil:
					p.errorf(tn, "polling_targets: %q is not an address", str)
				case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
					p.errorf(tn, "polling_targets: %v cannot be probed (unspecified, multicast or loopback)", a)
				case slices.Contains(s.PollingTargets, a):
					p.errorf(tn, "polling_targets: %v listed twice", a)
				default:
					s.PollingTargets = append(s.PollingTargets, a)
					c.pos[targetKey{s.Prefix, a}] = pos{tn.Line, tn.Column}
				}
			}
		case "steer_routes":
			if b, ok := p.boolean(v, "steer_routes", [2]string{"true", "false"}); ok {
				s.SteerRoutes = b
			}
		case "probe":
			s.Probe = p.probe(v, "probe", c.Probe)
		}
	})
	if !have["prefix"] {
		p.errorf(n, "%s: prefix is required", what)
	}
	if !have["interfaces"] {
		p.errorf(n, "%s: interfaces is required", what)
	} else if len(s.Interfaces) == 0 {
		p.errorf(n, "%s: interfaces needs at least one interface", what)
	}
	// Positions of targets recorded before the prefix was known.
	for _, a := range s.PollingTargets {
		if q, ok := c.pos[targetKey{netip.Prefix{}, a}]; ok {
			c.pos[targetKey{s.Prefix, a}] = q
		}
	}
	c.pos[subnetKey(s.Prefix)] = pos{n.Line, n.Column}
	return s
}

// targetKey and subnetKey index config.pos.
type targetKey struct {
	prefix netip.Prefix
	addr   netip.Addr
}
type subnetKey netip.Prefix
type groupKey string
type memberKey struct{ group, iface string }

func (p *parser) group(c *config, n *yaml.Node) groupConfig {
	g := groupConfig{Failback: "auto", HoldDown: 10 * time.Second}
	have := map[string]bool{}
	p.mapping(n, "group", []string{"name", "primary", "standbys", "addresses", "failback", "hold_down"}, func(key string, _, v *yaml.Node) {
		have[key] = true
		switch key {
		case "name":
			if s, ok := p.scalar(v, "name"); ok {
				if s == "" || strings.ContainsAny(s, " \t,=") {
					p.errorf(v, "name: %q must be a word without spaces, commas or '='", s)
				}
				g.Name = s
				c.pos[groupKey(s)] = pos{v.Line, v.Column}
			}
		case "primary":
			if s, ok := p.ifname(v, "primary"); ok {
				g.Primary = s
				c.pos[memberKey{"", s}] = pos{v.Line, v.Column}
			}
		case "standbys":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.errorf(v, "standbys: needs at least one interface")
			}
			for _, in := range p.list(v, "standbys") {
				if s, ok := p.ifname(in, "standbys"); ok {
					g.Standbys = append(g.Standbys, s)
					c.pos[memberKey{"", s}] = pos{in.Line, in.Column}
				}
			}
		case "addresses":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.errorf(v, "addresses: needs at least one address")
			}
			for _, an := range p.list(v, "addresses") {
				s, ok := p.scalar(an, "addresses")
				if !ok {
					continue
				}
				a, err := netip.ParsePrefix(s)
				switch {
				case err != nil:
					p.errorf(an, "addresses: %q is not an address with its prefix length, e.g. 198.18.10.50/24", s)
				case a.Addr().IsUnspecified() || a.Addr().IsMulticast() || a.Addr().IsLoopback():
					p.errorf(an, "addresses: %v cannot be a service address", a)
				case slices.ContainsFunc(g.Addresses, func(x netip.Prefix) bool { return x.Addr() == a.Addr() }):
					p.errorf(an, "addresses: %v listed twice", a.Addr())
				default:
					g.Addresses = append(g.Addresses, a)
					c.pos[a.Addr()] = pos{an.Line, an.Column}
				}
			}
		case "failback":
			if s, ok := p.scalar(v, "failback"); ok {
				if s != "auto" && s != "manual" && s != "never" {
					p.errorf(v, "failback: %q must be auto, manual or never", s)
				}
				g.Failback = s
			}
		case "hold_down":
			if d, ok := p.duration(v, "hold_down", 0, maxHoldDown); ok {
				g.HoldDown = d
			}
		}
	})
	what := "group at line " + strconv.Itoa(n.Line)
	if g.Name != "" {
		what = "group " + g.Name
	}
	if !have["name"] {
		p.errorf(n, "%s: name is required", what)
	}
	if !have["primary"] {
		p.errorf(n, "%s: primary is required", what)
	}
	if !have["standbys"] {
		p.errorf(n, "%s: standbys is required", what)
	}
	if !have["addresses"] {
		p.errorf(n, "%s: addresses is required", what)
	}
	// Members listed twice, with the position of the second mention.
	seen := map[string]bool{}
	for _, m := range g.members() {
		if m == "" {
			continue
		}
		if seen[m] {
			q := c.pos[memberKey{"", m}]
			p.errs = append(p.errs, configError{p.file, q.line, q.col, fmt.Sprintf("%s: member %s listed twice", what, m)})
		}
		seen[m] = true
		c.pos[memberKey{g.Name, m}] = c.pos[memberKey{"", m}]
	}
	c.pos[groupKey(g.Name)+"#"] = pos{n.Line, n.Column}
	return g
}

// crossChecks finds errors between entries.
func (p *parser) crossChecks(c *config) {
	at := func(q pos, format string, args ...any) {
		p.errs = append(p.errs, configError{p.file, q.line, q.col, fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	owner := map[string]string{} // interface -> group
	service := map[netip.Addr]string{}
	for _, g := range c.Groups {
		if g.Name != "" && names[g.Name] {
			at(c.pos[groupKey(g.Name)], "group name %s used twice", g.Name)
		}
		names[g.Name] = true
		for _, m := range g.members() {
			if o, ok := owner[m]; ok && o != g.Name {
				at(c.pos[memberKey{g.Name, m}], "group %s: %s is already a member of group %s", g.Name, m, o)
			}
			owner[m] = g.Name
		}
		for _, a := range g.Addresses {
			if o, ok := service[a.Addr()]; ok && o != g.Name {
				at(c.pos[a.Addr()], "group %s: address %v is already an address of group %s", g.Name, a.Addr(), o)
			}
			service[a.Addr()] = g.Name
		}
	}
	prefixes := map[netip.Prefix]bool{}
	for _, s := range c.Subnets {
		if !s.Prefix.IsValid() {
			continue
		}
		if prefixes[s.Prefix] {
			at(c.pos[subnetKey(s.Prefix)], "subnet %v listed twice", s.Prefix)
		}
		prefixes[s.Prefix] = true
		for _, a := range s.PollingTargets {
			if g, ok := service[a]; ok {
				at(c.pos[targetKey{s.Prefix, a}], "subnet %v: polling target %v is a service address of group %s (a node can always ping itself)", s.Prefix, a, g)
			}
		}
		if !s.IPMonitor && len(s.PollingTargets) > 0 {
			at(c.pos[subnetKey(s.Prefix)], "subnet %v: polling_targets given with ip_monitor off", s.Prefix)
		}
		if s.Probe.Timeout > 10*s.Probe.Interval {
			at(c.pos[subnetKey(s.Prefix)], "subnet %v: probe timeout %v is more than 10 intervals (%v)", s.Prefix, s.Probe.Timeout, s.Probe.Interval)
		}
	}
	if c.Probe.Timeout > 10*c.Probe.Interval && len(c.Subnets) == 0 {
		at(pos{1, 1}, "probe timeout %v is more than 10 intervals (%v)", c.Probe.Timeout, c.Probe.Interval)
	}
}

// errorAt returns a configError at the position recorded for key (the
// file's start if none).
func (c *config) errorAt(key any, format string, args ...any) configError {
	q, ok := c.pos[key]
	if !ok {
		q = pos{1, 1}
	}
	return configError{c.file, q.line, q.col, fmt.Sprintf(format, args...)}
}

// loadConfig reads and parses the file at name.
func loadConfig(name string) (*config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, configErrors{{name, 0, 0, errors.Unwrap(err).Error()}}
	}
	return parseConfig(name, data)
}
