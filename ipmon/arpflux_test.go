package ipmon

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestARPFluxSaidOnce: replies to eth3's probes arriving on eth2 (index 2)
// are counted as other-ingress, and said once, in Diagnostics and in the
// log, naming the sysctls that fix it; a target on eth2 whose replies come
// in on eth2 says nothing.
func TestARPFluxSaidOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		f.ingress = 2
		f.setAnswering(tgtA, true)
		f.setAnswering(tgtB, true)
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth3"}))
		require.NoError(t, p.Add(Target{Addr: tgtB, Interface: "eth3"}))
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth2"}))
		time.Sleep(time.Second)
		s := p.Snapshot()
		var other uint64
		for _, ts := range s.Targets {
			if ts.Target.Interface == "eth3" {
				require.Equal(t, ts.Received, ts.OtherIngress)
				other += ts.OtherIngress
			} else {
				require.Zero(t, ts.OtherIngress)
			}
		}
		require.Greater(t, other, uint64(100))
		require.Len(t, s.Diagnostics, 1, "%q", s.Diagnostics)
		d := s.Diagnostics[0]
		for _, want := range []string{"eth3", "ARP flux", "arp_ignore=1", "arp_announce=2", "net.ipv4.conf.eth3.arp_filter=1"} {
			require.Contains(t, d, want)
		}
		require.Equal(t, 1, strings.Count(logs.String(), "ARP flux"), "logged more than once: %s", logs.String())
	})
}

// TestARPFluxForgottenWithInterface: the ARP flux notice of an interface
// goes when its last target is removed, like the interface's other
// notices; an interface that still has targets keeps its own.
func TestARPFluxForgottenWithInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, f := fakePoller(t, Config{Interval: 10 * time.Millisecond})
		f.mu.Lock()
		f.ifindex["eth4"] = 4
		f.ingress = 2
		f.mu.Unlock()
		f.setAnswering(tgtA, true)
		f.setAnswering(tgtB, true)
		require.NoError(t, p.Add(Target{Addr: tgtA, Interface: "eth3"}))
		require.NoError(t, p.Add(Target{Addr: tgtB, Interface: "eth4"}))
		time.Sleep(time.Second)
		require.Len(t, p.Snapshot().Diagnostics, 2, "%q", p.Snapshot().Diagnostics)
		require.NoError(t, p.Remove(Target{Addr: tgtA, Interface: "eth3"}))
		d := p.Snapshot().Diagnostics
		require.Len(t, d, 1, "%q", d)
		require.Contains(t, d[0], "sent from eth4")
	})
}

// TestARPFluxNoAllocs: once an interface's ARP flux was told, each further
// reply through another interface costs no allocation (it is on the
// per-reply path).
func TestARPFluxNoAllocs(t *testing.T) {
	p := &Poller{diags: map[string]string{}, log: slog.New(slog.DiscardHandler)}
	tg := &target{tracker: &tracker{t: Target{Interface: "eth3", Addr: tgtA}}}
	p.noteOtherIngress(tg, 2)
	require.Len(t, p.diags, 1)
	require.Zero(t, testing.AllocsPerRun(100, func() { p.noteOtherIngress(tg, 2) }))
	require.Len(t, p.diags, 1)
}
