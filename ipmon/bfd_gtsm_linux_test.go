//go:build linux

package ipmon

import (
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBFDGTSM sends a valid BFD Down packet from the peer's namespace to
// the node's port 3784: with TTL 254 the session never hears it (GTSM),
// with TTL 255 it goes Init and learns the peer's discriminator.
func TestBFDGTSM(t *testing.T) {
	l := netlab.New(t)
	pr, err := l.NewIPMonPair("gtsm", 67)
	require.NoError(t, err)
	node := openIn(t, pr.Node, Config{})
	require.NoError(t, node.Add(Target{Interface: pr.NodeDev, Addr: pr.ServerAddr4, Kind: ProbeBFD, Interval: 10 * time.Millisecond, FailAfter: 3}))
	var fd int
	require.NoError(t, pr.Server.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Port: 49200, Addr: pr.ServerAddr4.As4()})
	}))
	defer unix.Close(fd)
	var pkt [bfdHeaderLen]byte
	encodeBFD(pkt[:], &bfdPacket{state: BFDStateDown, detectMult: 3, myDiscr: 77, desiredMinTx: time.Second, requiredMinRx: time.Second})
	dst := &unix.SockaddrInet4{Port: bfdControlPort, Addr: pr.NodeAddr4.As4()}
	send := func(ttl int) {
		require.NoError(t, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl))
		for range 10 {
			require.NoError(t, unix.Sendto(fd, pkt[:], 0, dst))
			time.Sleep(5 * time.Millisecond)
		}
	}
	status := func() BFDStatus { return node.Snapshot().Targets[0].BFD }

	send(254)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, BFDStateDown, status().State)
	require.Zero(t, status().RemoteDiscr)
	require.Zero(t, node.Snapshot().BFD.Received)

	send(255)
	require.Eventually(t, func() bool { s := status(); return s.State == BFDStateInit && s.RemoteDiscr == 77 }, 2*time.Second, 10*time.Millisecond, "%+v", status())
	require.NotZero(t, node.Snapshot().BFD.Received)
}
