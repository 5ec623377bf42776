package ipmon

import (
	"fmt"
	"strings"
)

// ARP flux made visible. With Linux's default ARP settings a host on the
// subnet may resolve eth3's address to eth2's hardware address; replies to
// eth3's probes then come in through eth2, and a failure of eth2 takes
// eth3's targets down with it. Such replies are accepted (without
// StrictIngress) and counted in TargetStats.OtherIngress; the first one of
// an interface also leaves one diagnostic in Snapshot.Diagnostics and one
// warning in the log, naming the sysctls that stop it.

// fluxKey is the diagnostics key of an interface's ARP flux notice (apart
// from the interface's own key, which the StrictIngress check uses).
func fluxKey(iface string) string { return diagKey(iface, "arp-flux") }

// diagKey is the key in Poller.diags of an interface's notice about topic,
// apart from the interface's own key (the StrictIngress check's): a notice
// of one kind never replaces one of another. Sorted by key, an interface's
// notices stay together.
func diagKey(iface, topic string) string { return iface + "\x00" + topic }

// forgetDiags drops every notice about iface (its last target is gone).
// Called with Poller.mu held.
func (p *Poller) forgetDiags(iface string) {
	delete(p.diags, iface)
	for k := range p.diags {
		if strings.HasPrefix(k, iface+"\x00") {
			delete(p.diags, k)
		}
	}
}

// noteOtherIngress is called, with Poller.mu held, for an accepted reply of
// tg that arrived on interface index ifindex instead of tg's. It says so
// once per interface.
func (p *Poller) noteOtherIngress(tg *target, ifindex int) {
	iface := tg.t.Interface
	// The key is built twice: a key only looked up stays on the stack, so
	// a reply of an interface already told of costs no allocation.
	if _, said := p.diags[fluxKey(iface)]; said {
		return
	}
	var msg string
	if tg.t.Addr.Is4() {
		msg = fmt.Sprintf("ipmon: replies to probes sent from %s arrive on another interface (index %d): ARP flux, "+
			"another interface on the subnet answers ARP for %s's address, so a failure of that interface would take %s's targets down too; "+
			"set net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2 (or net.ipv4.conf.%s.arp_filter=1)",
			iface, ifindex, iface, iface, iface)
	} else {
		msg = fmt.Sprintf("ipmon: replies to probes sent from %s arrive on another interface (index %d): "+
			"the neighbours reach %s's address through another interface, so a failure of that interface would take %s's targets down too",
			iface, ifindex, iface, iface)
	}
	p.diags[fluxKey(iface)] = msg
	p.log.Warn(msg, "interface", iface, "ingress_index", ifindex, "target", tg.t.Addr)
}
