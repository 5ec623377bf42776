//go:build linux

package netlab

// NewIPMonDualNIC builds an IPMonDual like NewIPMonDual, but every veth is
// NIC-like (equal ifindex at both ends), as in examples/lab: the kernel
// batches the carrier-loss notifications of the node's interfaces as it
// does for physical NICs. Bring its switch ports up with SetPortUp.
func (l *Lab) NewIPMonDualNIC(tag string, subnet byte, strictARP bool) (*IPMonDual, error) {
	return l.newIPMonDual(tag, subnet, strictARP, &VethOptions{NICLike: true})
}
