//go:build linux

package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/announce"
	"golang.org/x/sys/unix"
)

// checkConflict implements ConflictChecker. The local check is one dump
// of the namespace's addresses: an address of addrs on a device that is
// not a member is a conflict. A device at a member's last known index (a
// member renamed away) is no conflict: RemoveAddress takes the address
// off it. Only a holder at an unknown index costs a link lookup, for its
// name, so a move between members pays one address dump.
//
// The probe (ConflictProbes probes, ConflictProbeInterval apart, answers
// awaited one interval after the last) is sent on target's link from its
// hardware address: an RFC 5227 ARP probe for IPv4 (any ARP packet whose
// sender is the address counts), a duplicate address detection neighbour
// solicitation for IPv6 (any neighbour advertisement for the address
// counts). Answers from the members' own hardware addresses do not count:
// another member of the group may answer for an address the group
// already holds.
func (a *kernelActuator) checkConflict(ctx context.Context, target netpulse.Interface, addrs []netip.Prefix, members []netpulse.Interface, probe bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errActuatorClosed
	}
	all, err := a.rt.Address.List()
	if err != nil {
		return fmt.Errorf("failover: list addresses: %w", err)
	}
	for _, m := range all {
		got, ok := addressOf(&m)
		if !ok {
			continue
		}
		i := slices.IndexFunc(addrs, func(p netip.Prefix) bool { return p.Addr() == got })
		if i < 0 || slices.ContainsFunc(members, func(x netpulse.Interface) bool { return x.Index != 0 && x.Index == int(m.Index) }) {
			continue
		}
		name := ""
		if lm, err := a.rt.Link.Get(m.Index); err == nil && lm.Attributes != nil {
			name = lm.Attributes.Name
		}
		if name != "" && slices.ContainsFunc(members, func(x netpulse.Interface) bool { return x.Name == name }) {
			continue // a member whose index the engine has not seen yet
		}
		return &ConflictError{Address: addrs[i], Interface: netpulse.Interface{Index: int(m.Index), Name: name}}
	}
	if !probe || a.cfg.NoConflictProbe {
		return nil
	}
	links, err := a.rt.Link.List()
	if err != nil {
		return fmt.Errorf("failover: list links: %w", err)
	}
	var memberMACs []net.HardwareAddr
	var tl link
	for _, l := range links {
		if l.Attributes == nil {
			continue
		}
		if slices.ContainsFunc(members, func(x netpulse.Interface) bool { return x.Name == l.Attributes.Name }) {
			memberMACs = append(memberMACs, l.Attributes.Address)
		}
		if l.Attributes.Name == target.Name {
			tl = link{index: int(l.Index), mac: l.Attributes.Address}
		}
	}
	if tl.index == 0 {
		return fmt.Errorf("failover: conflict probe on %s: %w", target.Name, unix.ENODEV)
	}
	if len(tl.mac) != 6 {
		return nil // not Ethernet: nothing to probe with
	}
	if a.closed {
		return errActuatorClosed
	}
	// The probes wait without the lock: other calls (Holders, Verify)
	// need not wait for them.
	a.mu.Unlock()
	defer a.mu.Lock()
	// All addresses at once: the first placement waits for one probe
	// sequence, not one per address.
	type result struct {
		mac net.HardwareAddr
		err error
	}
	res := make([]result, len(addrs))
	var wg sync.WaitGroup
	for i, p := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].mac, res[i].err = a.probe(ctx, target, tl, p.Addr(), memberMACs)
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.err != nil {
			return r.err
		}
		if r.mac != nil {
			return &ConflictError{Address: addrs[i], HardwareAddr: r.mac, Via: target}
		}
	}
	return nil
}

// probe sends the probes for addr on l and returns the hardware address of
// a non-member that claims it, or nil. It holds no lock while it waits.
func (a *kernelActuator) probe(ctx context.Context, ifc netpulse.Interface, l link, addr netip.Addr, members []net.HardwareAddr) (net.HardwareAddr, error) {
	proto, msg, dst := uint16(unix.ETH_P_ARP), []byte(nil), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if addr.Is4() {
		msg = announce.ARPProbe(l.mac, addr)
	} else {
		proto, msg = unix.ETH_P_IPV6, announce.DADProbe(addr)
		_, dst = announce.SolicitedNode(addr)
	}
	var c *packet.Conn
	err := inNetNS(a.cfg.NetNS, func() error {
		var err error
		c, err = packet.Listen(&net.Interface{Index: l.index, Name: ifc.Name}, packet.Datagram, int(proto), nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failover: conflict probe socket on %s: %w", ifc.Name, err)
	}
	defer c.Close()
	iv := a.cfg.ConflictProbeInterval
	end := time.Now().Add(time.Duration(a.cfg.ConflictProbes) * iv)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	buf := make([]byte, 1500)
	next := time.Now()
	for sent := 0; ; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		now := time.Now()
		if sent < a.cfg.ConflictProbes && !now.Before(next) {
			if _, err := c.WriteTo(msg, &packet.Addr{HardwareAddr: dst}); err != nil {
				return nil, fmt.Errorf("failover: conflict probe for %v on %s: %w", addr, ifc.Name, err)
			}
			sent++
			next = next.Add(iv)
		}
		if !now.Before(end) {
			return nil, nil
		}
		wait := end
		if sent < a.cfg.ConflictProbes && next.Before(wait) {
			wait = next
		}
		if err := c.SetReadDeadline(wait); err != nil {
			return nil, err
		}
		n, from, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // send the next probe or finish
		}
		if err != nil {
			return nil, fmt.Errorf("failover: conflict probe for %v on %s: %w", addr, ifc.Name, err)
		}
		var hw net.HardwareAddr
		if pa, ok := from.(*packet.Addr); ok {
			hw = pa.HardwareAddr
		}
		var claim net.HardwareAddr
		var ok bool
		if addr.Is4() {
			claim, ok = arpClaim(buf[:n], addr)
		} else {
			claim, ok = naClaim(buf[:n], addr, hw)
		}
		if !ok || bytes.Equal(claim, l.mac) {
			continue
		}
		if slices.ContainsFunc(members, func(m net.HardwareAddr) bool { return bytes.Equal(m, claim) }) {
			continue
		}
		return claim, nil
	}
}
