//go:build linux

package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "failoverd")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// runToExit runs cmd, which must exit on its own within 10 s, and returns
// its exit code, its combined output and how long it ran.
func runToExit(t *testing.T, cmd *exec.Cmd) (int, string, time.Duration) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(t0)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String(), took
		}
		require.NoError(t, err)
		return 0, out.String(), took
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running after 10 s; output:\n%s", out.String())
		return 0, "", 0
	}
}

// TestBinaryFaults runs the built program against each fault that must
// end it, and measures the time from start to the refusal:
//   - CAP_NET_ADMIN dropped (setpriv): exit 1, the capability named;
//   - the service address held by another host on the bridge (IPv4 and
//     IPv6): exit 1, the address and the host's MAC named;
//   - the address on the node's lo: exit 1, lo named;
//   - an extra argument: exit 2 with the error printed.
func TestBinaryFaults(t *testing.T) {
	bin := buildBinary(t)
	n := buildLab(t)
	args := func(addr string) []string {
		return []string{"-primary", "eth3", "-standby", "eth2", "-address", addr,
			"-target", "eth3=198.18.10.200", "-target", "eth2=198.18.10.200", "-interval", "20ms", "-netns", n.node.Path()}
	}

	for _, c := range []string{"net_admin", "net_raw"} {
		t.Run("no-"+c, func(t *testing.T) {
			setpriv, err := exec.LookPath("setpriv")
			if err != nil {
				t.Skip("setpriv not installed")
			}
			cmd := exec.Command(setpriv, append([]string{"--inh-caps=-" + c, "--bounding-set=-" + c, "--", bin}, args("198.18.10.50/24")...)...)
			code, out, took := runToExit(t, cmd)
			t.Logf("refused after %v: %s", took, strings.TrimSpace(out))
			require.Equal(t, 1, code)
			require.Contains(t, out, "CAP_"+strings.ToUpper(c))
		})
	}

	peerMAC := func() string {
		l, err := n.peer.Link("eth0")
		require.NoError(t, err)
		return l.Attributes.Address.String()
	}()
	for _, tc := range []struct{ name, addr, on, want string }{
		{"v4-peer", "198.18.10.50/24", "peer", peerMAC},
		{"v6-peer", "2001:db8:10::50/64", "peer", peerMAC},
		{"v4-lo", "198.18.10.51/24", "lo", "already on lo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := netip.MustParsePrefix(tc.addr)
			if tc.on == "peer" {
				require.NoError(t, n.peer.AddAddr("eth0", p))
				defer n.peer.DelAddr("eth0", p)
			} else {
				lp := netip.PrefixFrom(p.Addr(), 32)
				require.NoError(t, n.node.AddAddr("lo", lp))
				defer n.node.DelAddr("lo", lp)
			}
			code, out, took := runToExit(t, exec.Command(bin, args(tc.addr)...))
			t.Logf("refused after %v: %s", took, strings.TrimSpace(out))
			require.Equal(t, 1, code)
			require.Contains(t, out, p.Addr().String())
			require.Contains(t, out, tc.want)
			for _, ifc := range []string{"eth3", "eth2"} {
				addrs, err := n.node.Addrs(ifc)
				require.NoError(t, err)
				for _, a := range addrs {
					require.NotEqual(t, p.Addr(), a.Addr(), "%v not taken on %s", p, ifc)
				}
			}
		})
	}

	t.Run("extra-argument", func(t *testing.T) {
		code, out, _ := runToExit(t, exec.Command(bin, append(args("198.18.10.50/24"), "extra")...))
		require.Equal(t, 2, code)
		require.Contains(t, out, `unexpected argument "extra"`)
	})
}

// TestBinaryRepair: the service address is deleted behind the running
// program's back (as `ip addr del` would); it is put back within 1 s and
// the program says so.
func TestBinaryRepair(t *testing.T) {
	bin := buildBinary(t)
	n := buildLab(t)
	cmd := exec.Command(bin, "-primary", "eth3", "-standby", "eth2", "-address", "198.18.10.50/24",
		"-target", "eth3=198.18.10.200", "-target", "eth2=198.18.10.200", "-interval", "20ms", "-netns", n.node.Path())
	stderr := newLines()
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	stderr.waitFor(t, "placed 198.18.10.50/24 on eth3")
	svc := netip.MustParsePrefix("198.18.10.50/24")
	t0 := time.Now()
	require.NoError(t, n.node.DelAddr("eth3", svc))
	require.Eventually(t, func() bool {
		_, err := n.peer.Ping("", svc.Addr(), 50*time.Millisecond)
		return err == nil
	}, time.Second, time.Millisecond, "reachable again within 1 s")
	t.Logf("address deleted behind failoverd's back: answering again after %v", time.Since(t0))
	stderr.waitFor(t, "198.18.10.50/24 missing on eth3 (removed behind failoverd's back): put back")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}
