//go:build linux

package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireEnv is the environment variable that turns a skipped real-kernel
// test into a failure. CI sets it to 1 so that the real-kernel tests always
// run there.
const RequireEnv = "NETPULSE_REQUIRE_NETNS"

// netnsDir is where iproute2 keeps named namespaces.
const netnsDir = "/var/run/netns"

// Config configures a Lab opened with Open. The zero value is valid.
type Config struct {
	// Name is a prefix for the names of the lab's namespaces. Empty means
	// "np" followed by random hex, unique per Lab.
	Name string

	// Named makes every namespace visible to `ip netns` under
	// /var/run/netns/<Name>-<namespace name>. Close removes the names.
	Named bool
}

// A Lab is a set of network namespaces built for one test or program.
// It is safe for concurrent use.
type Lab struct {
	prefix string
	named  bool

	mu     sync.Mutex
	nss    []*NS
	closed bool

	// nextIndex allocates interface indexes unique across the lab, so that
	// the two ends of a veth pair differ unless asked to be equal.
	nextIndex atomic.Uint32
}

// Available reports nil if this process can build a lab: it runs as root
// (or holds CAP_SYS_ADMIN and CAP_NET_ADMIN) and can create a network
// namespace. Otherwise it returns an error saying what is missing.
func Available() error {
	availOnce.Do(func() {
		if runtime.GOOS != "linux" {
			availErr = fmt.Errorf("netlab: network namespaces need Linux, this is %s", runtime.GOOS)
			return
		}
		f, err := newNetNS()
		if err != nil {
			availErr = fmt.Errorf("netlab: cannot create a network namespace (needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN): %w", err)
			return
		}
		f.Close()
	})
	return availErr
}

var (
	availOnce sync.Once
	availErr  error
)

// Require skips t with a clear reason when a lab cannot be built here, or
// fails it when NETPULSE_REQUIRE_NETNS=1 is set.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("real-kernel test cannot run and %s=1 forbids skipping: %v", RequireEnv, err)
		}
		t.Skipf("skipping real-kernel test: %v (run as root; set %s=1 to make this a failure)", err, RequireEnv)
	}
}

// New opens an anonymous lab for a test: it calls Require, and closes the
// lab in t.Cleanup, which also runs when the test fails or panics.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	l, err := Open(Config{})
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: close: %v", err)
		}
	})
	return l
}

// Open opens a lab. It creates nothing until namespaces are asked for.
func Open(cfg Config) (*Lab, error) {
	prefix := cfg.Name
	if prefix == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		prefix = "np" + hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(prefix, "/\x00") || len(prefix) > 64 {
		return nil, fmt.Errorf("netlab: invalid lab name %q", prefix)
	}
	l := &Lab{prefix: prefix, named: cfg.Named}
	l.nextIndex.Store(1000)
	return l, nil
}

// Name returns the lab's name prefix.
func (l *Lab) Name() string { return l.prefix }

// AllocIndex returns an interface index no other AllocIndex call of this lab
// returned. Lab-created links use indexes from 1000 up; the kernel numbers
// links it names itself from 1 up, so the two do not meet in practice.
func (l *Lab) AllocIndex() uint32 { return l.nextIndex.Add(1) }

// NewNS creates a network namespace with loopback up and IPv6 duplicate
// address detection disabled (so addresses, link-local ones included, are
// usable at once). name is a label unique within the lab.
func (l *Lab) NewNS(name string) (*NS, error) {
	if name == "" || strings.ContainsAny(name, "/\x00 ") {
		return nil, fmt.Errorf("netlab: invalid namespace name %q", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	for _, n := range l.nss {
		if n.name == name {
			return nil, fmt.Errorf("netlab: namespace %q already exists in lab %s", name, l.prefix)
		}
	}
	f, err := newNetNS()
	if err != nil {
		return nil, fmt.Errorf("netlab: create namespace %q: %w", name, err)
	}
	n := &NS{lab: l, name: name, file: f}
	if l.named {
		p := filepath.Join(netnsDir, l.prefix+"-"+name)
		if err := bindNetNS(f, p); err != nil {
			f.Close()
			return nil, fmt.Errorf("netlab: name namespace %q: %w", name, err)
		}
		n.path = p
	}
	if err := n.init(); err != nil {
		n.close()
		return nil, fmt.Errorf("netlab: set up namespace %q: %w", name, err)
	}
	l.nss = append(l.nss, n)
	return n, nil
}

// Namespaces returns the lab's namespaces in creation order.
func (l *Lab) Namespaces() []*NS {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*NS(nil), l.nss...)
}

// Close deletes every namespace of the lab (with every link inside) and
// removes their names. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	nss := l.nss
	l.nss = nil
	l.closed = true
	l.mu.Unlock()
	var errs []error
	// Reverse order: later namespaces may hold peers of earlier ones.
	for i := len(nss) - 1; i >= 0; i-- {
		errs = append(errs, nss[i].close())
	}
	return errors.Join(errs...)
}

// newNetNS creates a network namespace and returns a file holding it. The
// calling goroutine's thread is never moved: the work happens on a fresh
// locked thread that exits afterwards.
func newNetNS() (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it exits with the goroutine, so it
		// can never run other goroutines in the wrong namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare(CLONE_NEWNET): %w", err)}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// prepareNetNSDir makes /var/run/netns a mount point with shared
// propagation, as `ip netns add` does. Otherwise a later `ip netns add`
// mounts the directory over itself and hides (and so leaks) the names
// mounted before.
func prepareNetNSDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", netnsDir, err)
		}
		err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", netnsDir, err)
	}
	return nil
}

var netnsDirOnce = sync.OnceValue(prepareNetNSDir)

func bindNetNS(f *os.File, path string) error {
	if err := netnsDirOnce(); err != nil {
		return err
	}
	nf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	nf.Close()
	src := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("bind mount %s: %w", path, err)
	}
	return nil
}
