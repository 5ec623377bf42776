// Package netlab builds small networks of Linux network namespaces, veth pairs
// and bridges for netpulse's real-kernel tests and for the lab demonstration.
//
// A Lab owns every namespace it creates. Namespaces are anonymous by default:
// they are held only by an open file descriptor, so they vanish with the
// process even when a test binary is killed. A Lab opened with Named set
// bind-mounts each namespace under /var/run/netns so that a user can look
// inside with `ip netns exec`; Close removes those names.
//
// Everything is done in-process through rtnetlink and /proc/sys; nothing is
// executed, so the lab needs no package installed. It never touches the
// namespace of the calling process: links are created inside lab namespaces
// (a veth pair is created in one request with its peer already in the other
// namespace).
//
// NewPair (Lab.Pair) builds the set-up most real-kernel tests share: a node
// namespace joined by veths to a peer, or to a switch (a bridge) with an
// optional server on it, with addresses, and returns the namespaces, link
// names and both ends' indexes.
//
// Fault injection helpers model the failures netpulse detects: carrier loss
// (the veth peer set down), a burst of carrier flaps, admin down, deletion,
// rename, detaching a bridge port (carrier stays, path dies) and IP-level
// silence (the host stops answering echo while its link stays up).
//
// The lab is Linux only: on other systems this package is empty, and the
// tests and programs that use it build only on Linux.
package netlab
