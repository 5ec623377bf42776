//go:build linux

package netlab

// SetPortUp sets the named link administratively up, as SetUp does, and
// then asks the kernel for that one link (a per-device RTM_GETLINK), which
// makes it process the link's pending linkwatch event at once. Use it for a
// switch port of a NIC-like veth pair (equal ifindex at both ends).
//
// Why: veth's open raises carrier on both ends before the kernel activates
// the port's qdisc, so the carrier-up event is queued as urgent but, once
// the qdisc is active, no longer counts as urgent and waits for the
// host-wide non-urgent linkwatch run (up to 1 s after the previous one).
// Until it runs, the port's operstate stays down (no IFF_RUNNING) and a
// bridge keeps the port disabled: frames from the node, such as its first
// ARP request after carrier returned, are dropped, although the node's own
// end already reports carrier (its carrier-up event is urgent). A hardware
// switch port forwards as soon as its link is up, and a physical NIC raises
// carrier after its qdisc was set aside, so its event stays urgent: the
// delay is an artefact of the emulated switch, which SetPortUp removes.
func (n *NS) SetPortUp(name string) error {
	if err := n.SetUp(name); err != nil {
		return err
	}
	_, err := n.Link(name)
	return err
}
