//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FRR's programs, as Debian's frr package installs them.
const (
	frrZebra = "/usr/lib/frr/zebra"
	frrBFDD  = "/usr/lib/frr/bfdd"
	frrVtysh = "/usr/bin/vtysh"
)

// FRRAvailable reports nil if FRR's zebra, bfdd and vtysh are installed and
// the user frr exists; otherwise an error saying what is missing.
func FRRAvailable() error {
	for _, p := range []string{frrZebra, frrBFDD, frrVtysh} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("netlab: FRR is not installed (%s: %w); install the frr package", p, err)
		}
	}
	if _, err := user.Lookup("frr"); err != nil {
		return fmt.Errorf("netlab: no user frr: %w", err)
	}
	return nil
}

// RequireFRR is Require plus FRR: it skips t when FRR is missing, or fails
// it when NETPULSE_REQUIRE_NETNS=1 is set (CI installs frr).
func RequireFRR(t testing.TB) {
	t.Helper()
	Require(t)
	if err := FRRAvailable(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("FRR test cannot run and %s=1 forbids skipping: %v", RequireEnv, err)
		}
		t.Skipf("skipping FRR test: %v", err)
	}
}

// FRR is a zebra and a bfdd running inside one lab namespace, with their
// own vty socket directory, zserv socket, bfdd control socket, pid files,
// configuration and logs in a private directory. They run as root with -u
// frr -g frr, are started and stopped by process id, never as system
// services.
type FRR struct {
	ns    *NS
	Dir   string
	procs []*exec.Cmd
	waits []chan error
}

// StartFRR starts zebra and bfdd inside n with bfddConf as bfdd's
// configuration (timestamps in the log are to the microsecond, so that
// tests can read when a state changed), and waits until both answer
// vtysh. It stops them at cleanup. bfdd logs every peer event (debug bfd
// peer); StartFRRQuiet starts it without.
func (n *NS) StartFRR(t testing.TB, bfddConf string) *FRR {
	t.Helper()
	return n.startFRR(t, "debug bfd peer\n", bfddConf)
}

func (n *NS) startFRR(t testing.TB, debug, bfddConf string) *FRR {
	t.Helper()
	dir, err := os.MkdirTemp("", "netpulse-frr-")
	if err != nil {
		t.Fatal(err)
	}
	f := &FRR{ns: n, Dir: dir}
	t.Cleanup(func() {
		f.Stop()
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("FRR files kept in %s", dir)
		}
	})
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	write := func(name, s string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The log goes to a file named in the configuration (not --log), so
	// that the timestamp precision applies to it.
	logConf := func(name string) string {
		return "log file " + filepath.Join(dir, name) + "\nlog timestamp precision 6\n"
	}
	write("zebra.conf", logConf("zebra.log"))
	write("bfdd.conf", logConf("bfdd.log")+debug+"!\n"+bfddConf)
	common := []string{"-u", "frr", "-g", "frr", "--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"), "-P", "0"}
	zebra := append([]string{"-i", filepath.Join(dir, "zebra.pid"), "-f", filepath.Join(dir, "zebra.conf")}, common...)
	if err := f.start(frrZebra, zebra, filepath.Join(dir, "zebra.vty")); err != nil {
		t.Fatal(err)
	}
	bfdd := append([]string{"-i", filepath.Join(dir, "bfdd.pid"), "-f", filepath.Join(dir, "bfdd.conf"),
		"--bfdctl", filepath.Join(dir, "bfdd.sock")}, common...)
	if err := f.start(frrBFDD, bfdd, filepath.Join(dir, "bfdd.vty")); err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs prog inside the namespace and waits (at most 10 s) until its
// vty socket appears.
func (f *FRR) start(prog string, args []string, vty string) error {
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	// No Pdeathsig: it follows the forking thread, which ns.Do discards.
	// A child forked from a thread that entered the namespace lives in it.
	if err := f.ns.Do(cmd.Start); err != nil {
		return fmt.Errorf("netlab: start %s: %w", prog, err)
	}
	f.procs = append(f.procs, cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			f.procs = f.procs[:len(f.procs)-1]
			return fmt.Errorf("netlab: %s exited at start: %v", prog, err)
		default:
		}
		if _, err := os.Stat(vty); err == nil {
			f.waits = append(f.waits, exited)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.waits = append(f.waits, exited)
	return fmt.Errorf("netlab: %s has no vty socket %s after 10 s", prog, vty)
}

// Stop kills bfdd and zebra (SIGTERM, SIGKILL after 5 s) and waits for
// them. It is idempotent.
func (f *FRR) Stop() {
	for i := len(f.procs) - 1; i >= 0; i-- {
		cmd, exited := f.procs[i], f.waits[i]
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	f.procs, f.waits = nil, nil
}

// vtyshTimeout bounds one vtysh run: a daemon that stops answering must
// fail the test, not hang it until the test binary's own timeout (which
// skips the cleanup that stops the daemons).
const vtyshTimeout = 10 * time.Second

// Vtysh runs vtysh with the commands (each one -c) against these daemons
// and returns its output. A run is killed after 10 s.
func (f *FRR) Vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", f.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), vtyshTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, frrVtysh, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: vtysh %q: %w: %s", cmds, err, out)
	}
	return string(out), nil
}

// BFDPeer is one peer of `show bfd peers json`.
type BFDPeer struct {
	Peer             string `json:"peer"`
	Local            string `json:"local"`
	Status           string `json:"status"`
	Diagnostic       string `json:"diagnostic"`
	RemoteDiagnostic string `json:"remote-diagnostic"`
	ID               uint32 `json:"id"`
	RemoteID         uint32 `json:"remote-id"`
	TransmitInterval int    `json:"transmit-interval"`
	ReceiveInterval  int    `json:"receive-interval"`
	DetectMultiplier int    `json:"detect-multiplier"`
	RemoteTransmit   int    `json:"remote-transmit-interval"`
	RemoteReceive    int    `json:"remote-receive-interval"`
	RemoteMultiplier int    `json:"remote-detect-multiplier"`
}

// BFDPeers returns bfdd's peers.
func (f *FRR) BFDPeers() ([]BFDPeer, error) {
	return vtyshJSON[BFDPeer](f, "show bfd peers json")
}

// vtyshJSON runs a vtysh command that answers a JSON list and decodes it.
func vtyshJSON[T any](f *FRR, cmd string) ([]T, error) {
	out, err := f.Vtysh(cmd)
	if err != nil {
		return nil, err
	}
	var vs []T
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("netlab: %s: %w: %s", cmd, err, out)
	}
	return vs, nil
}

// BFDPeer returns bfdd's peer with address addr.
func (f *FRR) BFDPeer(addr string) (BFDPeer, error) {
	ps, err := f.BFDPeers()
	if err != nil {
		return BFDPeer{}, err
	}
	for _, p := range ps {
		if p.Peer == addr {
			return p, nil
		}
	}
	return BFDPeer{}, fmt.Errorf("netlab: bfdd has no peer %s: %+v", addr, ps)
}

// Log returns bfdd's log so far.
func (f *FRR) Log() string {
	b, err := os.ReadFile(filepath.Join(f.Dir, "bfdd.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// LogLines returns the lines of bfdd's log that contain all of words.
func (f *FRR) LogLines(words ...string) []string {
	var out []string
	for _, l := range strings.Split(f.Log(), "\n") {
		ok := true
		for _, w := range words {
			if !strings.Contains(l, w) {
				ok = false
				break
			}
		}
		if ok && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// BFDDPid returns bfdd's process id (0 if not running).
func (f *FRR) BFDDPid() int {
	if len(f.procs) < 2 {
		return 0
	}
	return f.procs[1].Process.Pid
}

// LogTimes returns the times of bfdd's log lines that contain all of words
// (the log is written with microsecond timestamps in local time).
func (f *FRR) LogTimes(words ...string) []time.Time {
	var ts []time.Time
	for _, l := range f.LogLines(words...) {
		if len(l) < 26 {
			continue
		}
		t, err := time.ParseInLocation("2006/01/02 15:04:05.000000", l[:26], time.Local)
		if err == nil {
			ts = append(ts, t)
		}
	}
	return ts
}
