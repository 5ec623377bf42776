//go:build linux

package netlab

import "testing"

// StartFRRQuiet is StartFRR without bfdd's debug logging of peer events
// (its log then holds no state changes: read BFDCounters instead), for
// measuring bfdd's CPU as it runs in production.
func (n *NS) StartFRRQuiet(t testing.TB, bfddConf string) *FRR {
	t.Helper()
	return n.startFRR(t, "", bfddConf)
}

// BFDCounter is one peer of `show bfd peers counters json`.
type BFDCounter struct {
	Peer        string `json:"peer"`
	Local       string `json:"local"`
	ControlIn   uint64 `json:"control-packet-input"`
	ControlOut  uint64 `json:"control-packet-output"`
	SessionUp   uint64 `json:"session-up"`
	SessionDown uint64 `json:"session-down"`
}

// BFDCounters returns bfdd's per-peer counters (packets, session ups and
// downs since the peer was configured).
func (f *FRR) BFDCounters() ([]BFDCounter, error) {
	return vtyshJSON[BFDCounter](f, "show bfd peers counters json")
}
