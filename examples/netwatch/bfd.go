package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/netpulse/netpulse/internal/jsonl"
	"github.com/netpulse/netpulse/ipmon"
)

// bfdFlags are the -bfd flags: BFD sessions with peers, each an ipmon
// target of Kind BFD.
type bfdFlags struct {
	peers      bfdPeers
	interval   time.Duration
	multiplier int
	passive    bool
}

// bfdPeers is the repeatable -bfd IFACE=PEER.
type bfdPeers []ipmon.Target

func (l *bfdPeers) String() string {
	var s []string
	for _, t := range *l {
		s = append(s, t.Interface+"="+t.Addr.String())
	}
	return strings.Join(s, ",")
}

func (l *bfdPeers) Set(s string) error {
	t, err := ipmon.ParseTargetSpec(s + "/bfd")
	if err != nil {
		return fmt.Errorf("-bfd %q: want IFACE=PEER: %w", s, err)
	}
	*l = append(*l, t)
	return nil
}

func registerBFD(fs *flag.FlagSet) *bfdFlags {
	f := &bfdFlags{}
	fs.Var(&f.peers, "bfd", "run a BFD session with `IFACE=PEER` (repeatable)")
	fs.DurationVar(&f.interval, "bfd-interval", 300*time.Millisecond, "BFD desired transmit and required receive interval")
	fs.IntVar(&f.multiplier, "bfd-multiplier", 3, "BFD detect multiplier (1..255)")
	fs.BoolVar(&f.passive, "bfd-passive", false, "BFD passive role: wait for the peer's first packet")
	return f
}

// check validates the flags and returns the BFD targets.
func (f *bfdFlags) check() error {
	if f.interval < time.Millisecond {
		return fmt.Errorf("-bfd-interval %v: at least 1ms", f.interval)
	}
	if f.multiplier < 1 || f.multiplier > 255 {
		return fmt.Errorf("-bfd-multiplier %d: out of range 1..255", f.multiplier)
	}
	return nil
}

// targets returns the BFD targets of the flags.
func (f *bfdFlags) targets() []ipmon.Target {
	if f == nil {
		return nil
	}
	ts := make([]ipmon.Target, 0, len(f.peers))
	for _, t := range f.peers {
		t.Interval, t.FailAfter, t.Passive = f.interval, f.multiplier, f.passive
		ts = append(ts, t)
	}
	return ts
}

// bfdRecord is a BFD session state record ("event": "bfd").
type bfdRecord struct {
	Time       string `json:"time"`
	Event      string `json:"event"`
	Interface  string `json:"interface"`
	Peer       string `json:"peer"`
	State      string `json:"state"`
	Diag       string `json:"diag"`
	TxMicros   int64  `json:"tx_us"`
	RxMicros   int64  `json:"rx_us"`
	Multiplier int    `json:"multiplier"`
}

func bfdRecordOf(ev *ipmon.TargetEvent) bfdRecord {
	b := ev.BFD
	return bfdRecord{jsonl.Stamp(ev.Time), "bfd", ev.Interface.Name, ev.Target.Addr.String(), b.State.String(), b.Diag.String(),
		b.TxInterval.Microseconds(), b.RxInterval.Microseconds(), b.Multiplier}
}

// bfdTracker remembers the last session state printed per peer, so that a
// record is printed on every session state change and only then.
type bfdTracker map[string]ipmon.BFDState

// bfd prints the BFD record of ev if its session state changed.
func (o *output) bfd(seen bfdTracker, ev *ipmon.TargetEvent) {
	if ev.Target.Kind != ipmon.ProbeBFD || ev.Removed {
		return
	}
	k := ev.Target.String()
	if s, ok := seen[k]; ok && s == ev.BFD.State {
		return
	}
	seen[k] = ev.BFD.State
	if o.json {
		o.jw.Write(bfdRecordOf(ev))
		return
	}
	b := ev.BFD
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%s %s bfd %s %s (diag %s, tx %v, rx %v, multiplier %d)\n",
		jsonl.Stamp(ev.Time), ev.Interface.Name, ev.Target.Addr, b.State, b.Diag, b.TxInterval, b.RxInterval, b.Multiplier)
}
