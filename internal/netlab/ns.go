//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/jsimonetti/rtnetlink/v2/driver"
	"github.com/mdlayher/netlink"
	"github.com/netpulse/netpulse/internal/netns"
	"golang.org/x/sys/unix"
)

// An NS is one network namespace of a Lab. Its methods are safe for
// concurrent use.
type NS struct {
	lab  *Lab
	name string
	file *os.File
	path string // bind-mount path when named, else ""

	mu sync.Mutex
	rt *rtnetlink.Conn // request connection inside the namespace
}

// Name returns the namespace's label within its lab.
func (n *NS) Name() string { return n.name }

// FD returns the file descriptor that holds the namespace. It stays valid
// until the lab is closed. Pass it as netlink.Config.NetNS or to setns(2).
func (n *NS) FD() int { return int(n.file.Fd()) }

// Path returns /var/run/netns/<name> for a named namespace, or "".
func (n *NS) Path() string { return n.path }

// NetlinkConfig returns a netlink configuration whose sockets live inside
// the namespace.
func (n *NS) NetlinkConfig() *netlink.Config { return &netlink.Config{NetNS: n.FD()} }

// Dial opens a new rtnetlink connection inside the namespace. The caller
// closes it.
func (n *NS) Dial() (*rtnetlink.Conn, error) { return rtnetlink.Dial(n.NetlinkConfig()) }

// Do runs fn on an OS thread that has entered the namespace, and waits for
// it. Sockets fn opens stay in the namespace after Do returns. The thread is
// discarded afterwards, so no goroutine ever runs in the wrong namespace,
// even if fn panics (the panic is re-raised in the caller).
func (n *NS) Do(fn func() error) error {
	err := netns.Do(n.FD(), fn)
	if ee, ok := err.(*netns.EnterError); ok {
		return fmt.Errorf("netlab: enter namespace %q: %w", n.name, ee.Err)
	}
	return err
}

func (n *NS) conn() (*rtnetlink.Conn, error) {
	if n.rt != nil {
		return n.rt, nil
	}
	c, err := n.Dial()
	if err != nil {
		return nil, fmt.Errorf("netlab: rtnetlink in namespace %q: %w", n.name, err)
	}
	n.rt = c
	return c, nil
}

// exec runs fn with the namespace's request connection.
func (n *NS) exec(fn func(c *rtnetlink.Conn) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.conn()
	if err != nil {
		return err
	}
	return fn(c)
}

func (n *NS) init() error {
	// Disable DAD for links created from now on, so that link-local and
	// added IPv6 addresses are usable at once.
	for _, k := range []string{"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"} {
		if err := n.Sysctl(k, "0"); err != nil {
			return err
		}
	}
	return n.exec(func(c *rtnetlink.Conn) error {
		return c.Link.Set(&rtnetlink.LinkMessage{Index: 1, Flags: unix.IFF_UP, Change: unix.IFF_UP})
	})
}

func (n *NS) close() error {
	n.mu.Lock()
	if n.rt != nil {
		n.rt.Close()
		n.rt = nil
	}
	n.mu.Unlock()
	var errs []error
	if n.path != "" {
		if err := unix.Unmount(n.path, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("netlab: unmount %s: %w", n.path, err))
		}
		if err := os.Remove(n.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Closing the last reference destroys the namespace and every link in
	// it; a veth whose peer lives elsewhere goes with it.
	errs = append(errs, n.file.Close())
	return errors.Join(errs...)
}

// Sysctl writes value to the namespace's /proc/sys/<key>. key may be written
// with slashes ("net/ipv4/conf/eth2/arp_ignore") or dots
// ("net.ipv4.conf.eth2.arp_ignore"; then no component may contain a dot).
func (n *NS) Sysctl(key, value string) error {
	p := sysctlPath(key)
	return n.Do(func() error {
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			return fmt.Errorf("netlab: sysctl %s=%s in %q: %w", key, value, n.name, err)
		}
		return nil
	})
}

// ReadSysctl reads the namespace's /proc/sys/<key>, trimmed.
func (n *NS) ReadSysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return "/proc/sys/" + strings.TrimPrefix(key, "/")
}

// Link returns the kernel's current view of the named link (a per-device
// RTM_GETLINK).
func (n *NS) Link(name string) (rtnetlink.LinkMessage, error) {
	var lm rtnetlink.LinkMessage
	err := n.exec(func(c *rtnetlink.Conn) error {
		var err error
		lm, err = getLinkByName(c, name)
		return err
	})
	return lm, err
}

func getLinkByName(c *rtnetlink.Conn, name string) (rtnetlink.LinkMessage, error) {
	msgs, err := c.Execute(&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}},
		unix.RTM_GETLINK, netlink.Request)
	if err != nil {
		return rtnetlink.LinkMessage{}, fmt.Errorf("netlab: link %q: %w", name, err)
	}
	for _, m := range msgs {
		if lm, ok := m.(*rtnetlink.LinkMessage); ok {
			return *lm, nil
		}
	}
	return rtnetlink.LinkMessage{}, fmt.Errorf("netlab: link %q: no reply", name)
}

// Index returns the interface index of the named link.
func (n *NS) Index(name string) (int, error) {
	lm, err := n.Link(name)
	return int(lm.Index), err
}

// Carrier reports whether the named link has carrier (IFF_LOWER_UP).
func (n *NS) Carrier(name string) (bool, error) {
	lm, err := n.Link(name)
	return lm.Flags&unix.IFF_LOWER_UP != 0, err
}

// Links lists the namespace's links.
func (n *NS) Links() ([]rtnetlink.LinkMessage, error) {
	var out []rtnetlink.LinkMessage
	err := n.exec(func(c *rtnetlink.Conn) error {
		var err error
		out, err = c.Link.List()
		return err
	})
	return out, err
}

func (n *NS) setFlags(name string, flags, change uint32) error {
	return n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, name)
		if err != nil {
			return err
		}
		if err := c.Link.Set(&rtnetlink.LinkMessage{Index: lm.Index, Flags: flags, Change: change}); err != nil {
			return fmt.Errorf("netlab: set flags of %q in %q: %w", name, n.name, err)
		}
		return nil
	})
}

// SetUp sets the named link administratively up.
func (n *NS) SetUp(name string) error { return n.setFlags(name, unix.IFF_UP, unix.IFF_UP) }

// SetDown sets the named link administratively down. Done on one end of a
// veth pair, it takes the carrier of the other end away: that is how the
// lab injects carrier loss.
func (n *NS) SetDown(name string) error { return n.setFlags(name, 0, unix.IFF_UP) }

// VethOptions tunes Lab.Veth. The zero value gives two ends with distinct
// interface indexes: the kernel then notifies their carrier changes at once.
type VethOptions struct {
	// NICLike gives both ends the same interface index, so that each end's
	// ifindex equals its iflink as on a physical NIC: the kernel then
	// batches carrier-loss notifications (at most one run per second).
	NICLike bool

	// Index and PeerIndex choose the indexes explicitly (0: allocated).
	Index, PeerIndex uint32

	// Down leaves both ends administratively down (default: up).
	Down bool

	// HardwareAddr and PeerHardwareAddr set MAC addresses (nil: random).
	HardwareAddr, PeerHardwareAddr net.HardwareAddr
}

// Veth creates a veth pair with end aName in namespace a and end bName in
// namespace b, in one request and without touching any other namespace.
// Both ends are set up unless opts.Down. a and b may be the same namespace
// (then NICLike is impossible and is refused).
func (l *Lab) Veth(a *NS, aName string, b *NS, bName string, opts *VethOptions) error {
	var o VethOptions
	if opts != nil {
		o = *opts
	}
	if o.NICLike {
		if a == b {
			return errors.New("netlab: a NIC-like veth needs its ends in two namespaces")
		}
		if o.Index == 0 {
			o.Index = l.AllocIndex()
		}
		if o.PeerIndex == 0 {
			o.PeerIndex = o.Index
		}
		if o.Index != o.PeerIndex {
			return errors.New("netlab: a NIC-like veth has equal indexes at both ends")
		}
	} else {
		if o.Index == 0 {
			o.Index = l.AllocIndex()
		}
		if o.PeerIndex == 0 {
			o.PeerIndex = l.AllocIndex()
		}
	}
	peerFD := uint32(b.FD())
	peer := &rtnetlink.LinkMessage{
		Index: o.PeerIndex,
		Attributes: &rtnetlink.LinkAttributes{
			Name:    bName,
			Address: o.PeerHardwareAddr,
			NetNS:   rtnetlink.NetNSForFD(peerFD),
		},
	}
	req := &rtnetlink.LinkMessage{
		Index: o.Index,
		Attributes: &rtnetlink.LinkAttributes{
			Name:    aName,
			Address: o.HardwareAddr,
			Info:    &rtnetlink.LinkInfo{Kind: "veth", Data: &driver.Veth{PeerInfo: peer}},
		},
	}
	err := a.exec(func(c *rtnetlink.Conn) error { return c.Link.New(req) })
	if err != nil {
		return fmt.Errorf("netlab: veth %s/%s <-> %s/%s: %w", a.name, aName, b.name, bName, err)
	}
	// IFF_UP in the new-link request makes this kernel fail it with
	// ENOTCONN: bring the ends up afterwards.
	if !o.Down {
		if err := a.SetUp(aName); err != nil {
			return err
		}
		if err := b.SetUp(bName); err != nil {
			return err
		}
	}
	return nil
}

// Bridge creates a bridge (a switch) named name in the namespace and sets it
// up. Its forwarding delay is zero, so ports forward at once.
func (n *NS) Bridge(name string) error {
	err := n.exec(func(c *rtnetlink.Conn) error {
		return c.Link.New(&rtnetlink.LinkMessage{
			Attributes: &rtnetlink.LinkAttributes{
				Name: name,
				Info: &rtnetlink.LinkInfo{Kind: "bridge", Data: &rtnetlink.LinkData{Name: "bridge", Data: bridgeData()}},
			},
		})
	})
	if err != nil {
		return fmt.Errorf("netlab: bridge %q in %q: %w", name, n.name, err)
	}
	return n.SetUp(name)
}

func bridgeData() []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_BR_FORWARD_DELAY, 0)
	ae.Uint32(unix.IFLA_BR_STP_STATE, 0)
	// LinkData puts these bytes inside IFLA_INFO_DATA as they are.
	b, _ := ae.Encode()
	return b
}

// SetMaster attaches the named link to bridge as a port. An empty bridge
// detaches it (nomaster): the link keeps its carrier but the path through
// the port is dead.
func (n *NS) SetMaster(name, bridge string) error {
	return n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, name)
		if err != nil {
			return err
		}
		var master uint32
		if bridge != "" {
			bm, err := getLinkByName(c, bridge)
			if err != nil {
				return err
			}
			master = bm.Index
		}
		err = c.Link.Set(&rtnetlink.LinkMessage{Index: lm.Index, Attributes: &rtnetlink.LinkAttributes{Master: &master}})
		if err != nil {
			return fmt.Errorf("netlab: set master of %q to %q in %q: %w", name, bridge, n.name, err)
		}
		return nil
	})
}

// DeleteLink deletes the named link (a veth takes its peer with it).
func (n *NS) DeleteLink(name string) error {
	return n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, name)
		if err != nil {
			return err
		}
		if err := c.Link.Delete(lm.Index); err != nil {
			return fmt.Errorf("netlab: delete %q in %q: %w", name, n.name, err)
		}
		return nil
	})
}

// Rename renames a link. The kernel refuses to rename a running link, so a
// link that is up is set down, renamed and set up again.
func (n *NS) Rename(oldName, newName string) error {
	return n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, oldName)
		if err != nil {
			return err
		}
		wasUp := lm.Flags&unix.IFF_UP != 0
		if wasUp {
			if err := c.Link.Set(&rtnetlink.LinkMessage{Index: lm.Index, Change: unix.IFF_UP}); err != nil {
				return err
			}
		}
		if err := c.Link.Set(&rtnetlink.LinkMessage{Index: lm.Index, Attributes: &rtnetlink.LinkAttributes{Name: newName}}); err != nil {
			return fmt.Errorf("netlab: rename %q to %q in %q: %w", oldName, newName, n.name, err)
		}
		if wasUp {
			return c.Link.Set(&rtnetlink.LinkMessage{Index: lm.Index, Flags: unix.IFF_UP, Change: unix.IFF_UP})
		}
		return nil
	})
}

// Flap takes the named link down and up count times, waiting gap after each
// change. Done on a veth end, the peer sees count carrier losses.
func (n *NS) Flap(name string, count int, gap time.Duration) error {
	for i := 0; i < count; i++ {
		if err := n.SetDown(name); err != nil {
			return err
		}
		if gap > 0 {
			time.Sleep(gap)
		}
		if err := n.SetUp(name); err != nil {
			return err
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	return nil
}

// AddAddr adds an address with its prefix (e.g. 198.18.0.1/24) to the named
// link. IPv6 addresses get IFA_F_NODAD: usable at once.
func (n *NS) AddAddr(name string, p netip.Prefix) error { return n.addr(name, p, true) }

// DelAddr removes an address from the named link.
func (n *NS) DelAddr(name string, p netip.Prefix) error { return n.addr(name, p, false) }

// Addrs returns the addresses on the named link, with their prefixes.
func (n *NS) Addrs(name string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, name)
		if err != nil {
			return err
		}
		msgs, err := c.Address.List()
		if err != nil {
			return fmt.Errorf("netlab: addresses of %q in %q: %w", name, n.name, err)
		}
		for _, m := range msgs {
			if m.Index != lm.Index || m.Attributes == nil {
				continue
			}
			if a, ok := netip.AddrFromSlice(m.Attributes.Address); ok {
				out = append(out, netip.PrefixFrom(a.Unmap(), int(m.PrefixLength)))
			}
		}
		return nil
	})
	return out, err
}

func (n *NS) addr(name string, p netip.Prefix, add bool) error {
	if !p.IsValid() {
		return fmt.Errorf("netlab: invalid prefix %v", p)
	}
	return n.exec(func(c *rtnetlink.Conn) error {
		lm, err := getLinkByName(c, name)
		if err != nil {
			return err
		}
		am := AddressMessage(lm.Index, p)
		if add {
			err = c.Address.New(am)
		} else {
			err = c.Address.Delete(am)
		}
		if err != nil {
			verb := "add"
			if !add {
				verb = "delete"
			}
			return fmt.Errorf("netlab: %s address %v on %q in %q: %w", verb, p, name, n.name, err)
		}
		return nil
	})
}

// AddressMessage builds the rtnetlink message for address p on link index:
// IPv4 with its broadcast address, IPv6 with IFA_F_NODAD.
func AddressMessage(index uint32, p netip.Prefix) *rtnetlink.AddressMessage {
	addr := p.Addr()
	am := &rtnetlink.AddressMessage{
		PrefixLength: uint8(p.Bits()),
		Index:        index,
		Attributes: &rtnetlink.AddressAttributes{
			Address: net.IP(addr.AsSlice()),
			Local:   net.IP(addr.AsSlice()),
		},
	}
	if addr.Is4() {
		am.Family = unix.AF_INET
		b := addr.As4()
		if p.Bits() < 31 {
			mask := ^uint32(0) >> p.Bits()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | mask
			am.Attributes.Broadcast = net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
		}
	} else {
		am.Family = unix.AF_INET6
		am.Attributes.Local = nil
		am.Flags = unix.IFA_F_NODAD
		am.Attributes.Flags = unix.IFA_F_NODAD
	}
	return am
}

// Route is a route for AddRoute and DelRoute.
type Route struct {
	Dst     netip.Prefix // destination; required (0.0.0.0/0 or ::/0 for default)
	Gateway netip.Addr   // optional
	Dev     string       // output link; required unless Type is not unicast
	Src     netip.Addr   // optional preferred source
	Metric  uint32       // priority
	Table   uint32       // 0: main
	Type    uint8        // 0: unicast; e.g. unix.RTN_BLACKHOLE
}

// AddRoute adds a route.
func (n *NS) AddRoute(r Route) error { return n.route(r, true) }

// DelRoute deletes a route.
func (n *NS) DelRoute(r Route) error { return n.route(r, false) }

func (n *NS) route(r Route, add bool) error {
	if !r.Dst.IsValid() {
		return fmt.Errorf("netlab: route without a destination")
	}
	return n.exec(func(c *rtnetlink.Conn) error {
		rm := &rtnetlink.RouteMessage{
			DstLength: uint8(r.Dst.Bits()),
			Table:     unix.RT_TABLE_MAIN,
			Protocol:  unix.RTPROT_STATIC,
			Scope:     unix.RT_SCOPE_UNIVERSE,
			Type:      unix.RTN_UNICAST,
			Attributes: rtnetlink.RouteAttributes{
				Dst:      net.IP(r.Dst.Masked().Addr().AsSlice()),
				Priority: r.Metric,
			},
		}
		rm.Family = unix.AF_INET6
		if r.Dst.Addr().Is4() {
			rm.Family = unix.AF_INET
		}
		if r.Table != 0 {
			if r.Table < 256 {
				rm.Table = uint8(r.Table)
			} else {
				rm.Table = unix.RT_TABLE_UNSPEC
			}
			rm.Attributes.Table = r.Table
		}
		if r.Type != 0 {
			rm.Type = r.Type
		}
		if r.Dev != "" {
			lm, err := getLinkByName(c, r.Dev)
			if err != nil {
				return err
			}
			rm.Attributes.OutIface = lm.Index
		}
		if r.Gateway.IsValid() {
			rm.Attributes.Gateway = net.IP(r.Gateway.AsSlice())
		} else if rm.Type == unix.RTN_UNICAST {
			rm.Scope = unix.RT_SCOPE_LINK
		}
		if r.Src.IsValid() {
			rm.Attributes.Src = net.IP(r.Src.AsSlice())
		}
		var err error
		if add {
			err = c.Route.Add(rm)
		} else {
			rm.Scope = unix.RT_SCOPE_NOWHERE
			err = c.Route.Delete(rm)
		}
		if err != nil {
			return fmt.Errorf("netlab: route %+v in %q: %w", r, n.name, err)
		}
		return nil
	})
}

// Silence makes the namespace stop answering ICMP and ICMPv6 echo while its
// links keep carrier: an IP-level failure the link cannot see.
func (n *NS) Silence() error { return n.setEchoIgnore("1") }

// Unsilence undoes Silence.
func (n *NS) Unsilence() error { return n.setEchoIgnore("0") }

func (n *NS) setEchoIgnore(v string) error {
	if err := n.Sysctl("net/ipv4/icmp_echo_ignore_all", v); err != nil {
		return err
	}
	return n.Sysctl("net/ipv6/icmp/echo_ignore_all", v)
}

// SetStrictARP sets arp_ignore=1 and arp_announce=2 on all interfaces of the
// namespace (and for ones created later), which stops "ARP flux" between two
// interfaces on one subnet. strict=false restores Linux's defaults (0, 0).
func (n *NS) SetStrictARP(strict bool) error {
	ignore, announce := "0", "0"
	if strict {
		ignore, announce = "1", "2"
	}
	for _, scope := range []string{"all", "default"} {
		if err := n.Sysctl("net/ipv4/conf/"+scope+"/arp_ignore", ignore); err != nil {
			return err
		}
		if err := n.Sysctl("net/ipv4/conf/"+scope+"/arp_announce", announce); err != nil {
			return err
		}
	}
	return nil
}
