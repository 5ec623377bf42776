//go:build linux

package netns_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/netpulse/netpulse/internal/netns"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newNS makes a namespace held by a file (needs CAP_SYS_ADMIN), or skips.
func newNS(t *testing.T) *os.File {
	t.Helper()
	ch := make(chan *os.File, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- nil
			return
		}
		f, _ := os.Open("/proc/thread-self/ns/net")
		ch <- f
	}()
	f := <-ch
	if f == nil {
		if os.Getenv("NETPULSE_REQUIRE_NETNS") == "1" {
			t.Fatal("cannot create a network namespace and NETPULSE_REQUIRE_NETNS=1")
		}
		t.Skip("cannot create a network namespace (needs root)")
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestDo(t *testing.T) {
	f := newNS(t)
	self, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	want, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	require.NoError(t, err)
	var inside string
	require.NoError(t, netns.Do(int(f.Fd()), func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	require.Equal(t, want, inside)
	require.NotEqual(t, self, inside)
	after, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	require.Equal(t, self, after, "the caller's thread never moves")

	// fd 0 runs here.
	require.NoError(t, netns.Do(0, func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	require.Equal(t, self, inside)

	x := errors.New("x")
	require.ErrorIs(t, netns.Do(int(f.Fd()), func() error { return x }), x)
	require.PanicsWithValue(t, "boom", func() { _ = netns.Do(int(f.Fd()), func() error { panic("boom") }) })
	require.ErrorIs(t, netns.Do(int(f.Fd()), func() error { runtime.Goexit(); return nil }), netns.ErrGoexit)

	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()
	var ee *netns.EnterError
	require.ErrorAs(t, netns.Do(int(null.Fd()), func() error { return nil }), &ee, "not a namespace")
	require.ErrorIs(t, ee, unix.EINVAL)
}

// TestDup: the copy is close-on-exec, numbered 3 or above, and names the
// same namespace. (linkmon's TestNetNSDuplicateIsNeverZero runs a child
// with descriptor 0 closed.)
func TestDup(t *testing.T) {
	f, err := os.Open("/proc/self/ns/net")
	require.NoError(t, err)
	defer f.Close()
	fd, err := netns.Dup(int(f.Fd()))
	require.NoError(t, err)
	defer unix.Close(fd)
	require.GreaterOrEqual(t, fd, 3)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	require.NoError(t, err)
	require.NotZero(t, flags&unix.FD_CLOEXEC, "close-on-exec")
	var a, b unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &a))
	require.NoError(t, unix.Fstat(fd, &b))
	require.Equal(t, a.Ino, b.Ino, "the same namespace")

	_, err = netns.Dup(-1)
	require.ErrorIs(t, err, unix.EBADF)
}
