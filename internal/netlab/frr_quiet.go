//go:build linux

package netlab

import (
	"encoding/json"
	"fmt"
	"testing"
)

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
	out, err := f.Vtysh("show bfd peers counters json")
	if err != nil {
		return nil, err
	}
	var cs []BFDCounter
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		return nil, fmt.Errorf("netlab: show bfd peers counters json: %w: %s", err, out)
	}
	return cs, nil
}
