//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/stretchr/testify/require"
)

func TestBFDFlags(t *testing.T) {
	o, err := parseFlags([]string{"-bfd", "eth3=198.18.10.100", "-bfd", "eth2=2001:db8::1", "-bfd-interval", "10ms", "-bfd-multiplier", "5", "-bfd-passive"}, io.Discard)
	require.NoError(t, err)
	ts := o.bfd.targets()
	require.Len(t, ts, 2)
	require.Equal(t, ipmon.Target{Interface: "eth3", Addr: netip.MustParseAddr("198.18.10.100"), Kind: ipmon.ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 5, Passive: true}, ts[0])
	require.Equal(t, "eth2", ts[1].Interface)

	o, err = parseFlags([]string{"-bfd", "eth3=198.18.10.100"}, io.Discard)
	require.NoError(t, err)
	ts = o.bfd.targets()
	require.Equal(t, 300*time.Millisecond, ts[0].Interval)
	require.Equal(t, 3, ts[0].FailAfter)
	require.False(t, ts[0].Passive)

	for _, bad := range [][]string{{"-bfd", "198.18.10.100"}, {"-bfd", "eth3=nope"}, {"-bfd-multiplier", "0"}, {"-bfd-multiplier", "256"}, {"-bfd-interval", "0s"}} {
		_, err := parseFlags(bad, io.Discard)
		require.Error(t, err, "%q", bad)
	}
}

func TestBFDRecord(t *testing.T) {
	ev := &ipmon.TargetEvent{Time: time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC), Interface: netpulse.Interface{Index: 3, Name: "eth3"},
		Target: ipmon.Target{Interface: "eth3", Addr: netip.MustParseAddr("198.18.10.100"), Kind: ipmon.ProbeBFD},
		State:  ipmon.TargetDown, Previous: ipmon.TargetUp,
		BFD: ipmon.BFDStatus{State: ipmon.BFDStateDown, Diag: ipmon.BFDDiagControlDetectionExpired, TxInterval: time.Second, RxInterval: 300 * time.Millisecond, Multiplier: 3}}
	var buf bytes.Buffer
	o := newOutput(&buf, true)
	seen := bfdTracker{}
	o.bfd(seen, ev)
	o.bfd(seen, ev) // no change: no record
	require.Equal(t, `{"time":"2026-11-22T05:00:00.000000001Z","event":"bfd","interface":"eth3","peer":"198.18.10.100","state":"down","diag":"control-detection-time-expired","tx_us":1000000,"rx_us":300000,"multiplier":3}`+"\n", buf.String())
	ev.BFD.State, ev.BFD.Diag = ipmon.BFDStateAdminDown, ipmon.BFDDiagAdminDown
	buf.Reset()
	o.bfd(seen, ev)
	require.Contains(t, buf.String(), `"state":"admin-down","diag":"admin-down"`)
	buf.Reset()
	newOutput(&buf, false).bfd(bfdTracker{}, ev)
	require.Equal(t, "2026-11-22T05:00:00.000000001Z eth3 bfd 198.18.10.100 admin-down (diag admin-down, tx 1s, rx 300ms, multiplier 3)\n", buf.String())
}

// TestBFDAgainstFRR runs netwatch with -bfd against FRR's bfdd on the other
// end of eth2: bfd and target records go up; when netwatch exits, bfdd
// shows the peer down with the remote diagnostic "administratively down".
func TestBFDAgainstFRR(t *testing.T) {
	netlab.RequireFRR(t)
	node, sw := namedLab(t)
	require.NoError(t, node.AddAddr("eth2", netip.MustParsePrefix("198.18.21.2/24")))
	require.NoError(t, sw.AddAddr("p2", netip.MustParsePrefix("198.18.21.1/24")))
	frr := sw.StartFRR(t, "bfd\n peer 198.18.21.2 local-address 198.18.21.1\n  receive-interval 10\n  transmit-interval 10\n  detect-multiplier 3\n !\n!\n")
	lines := make(chan string, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	o, err := parseFlags([]string{"-i", "eth2", "-json", "-netns", node.Path(), "-bfd", "eth2=198.18.21.1", "-bfd-interval", "10ms"}, io.Discard)
	require.NoError(t, err)
	go func() { done <- run(ctx, o, newOutput(lineWriter{lines}, true)) }()

	var rec bfdRecord
	l := nextLine(t, lines, func(l string) bool {
		return strings.Contains(l, `"event":"bfd"`) && strings.Contains(l, `"state":"up"`)
	})
	require.NoError(t, json.Unmarshal([]byte(l), &rec))
	require.Equal(t, bfdRecord{Time: rec.Time, Event: "bfd", Interface: "eth2", Peer: "198.18.21.1", State: "up", Diag: "none", TxMicros: rec.TxMicros, RxMicros: rec.RxMicros, Multiplier: 3}, rec)
	require.Regexp(t, jsonTime, rec.Time)
	var tr jsonl.Target
	l = nextLine(t, lines, func(l string) bool {
		return strings.Contains(l, `"event":"target"`) && strings.Contains(l, `"state":"up"`)
	})
	require.NoError(t, json.Unmarshal([]byte(l), &tr))
	require.Equal(t, "198.18.21.1", tr.Target)
	require.Eventually(t, func() bool {
		p, err := frr.BFDPeer("198.18.21.2")
		return err == nil && p.Status == "up"
	}, 10*time.Second, 50*time.Millisecond)

	cancel()
	require.NoError(t, <-done)
	var p netlab.BFDPeer
	require.Eventually(t, func() bool {
		p, err = frr.BFDPeer("198.18.21.2")
		return err == nil && p.Status == "down" && p.RemoteDiagnostic == "administratively down"
	}, 5*time.Second, 50*time.Millisecond, "%+v", p)
	require.NotEmpty(t, frr.LogLines("198.18.21.2", "up -> down"), frr.Log())
}
