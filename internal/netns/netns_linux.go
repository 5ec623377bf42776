//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrGoexit is returned by Do when fn ended its goroutine with
// runtime.Goexit (e.g. t.FailNow inside fn).
var ErrGoexit = errors.New("netns: the function run in the namespace called runtime.Goexit")

// Do runs fn on an OS thread that has entered the network namespace held by
// the file descriptor fd, and waits for it. fd 0 means the caller's
// namespace: fn then runs on the calling goroutine. A failure to enter is an
// *EnterError. A panic in fn is raised again in the caller.
func Do(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	type result struct {
		err error
		p   any
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: &EnterError{FD: fd, Err: err}}
			return
		}
		// Sent from a deferred call so that Do returns even when fn
		// panics or calls runtime.Goexit.
		r := result{err: ErrGoexit}
		defer func() {
			if p := recover(); p != nil {
				r = result{p: p}
			}
			ch <- r
		}()
		r.err = fn()
	}()
	r := <-ch
	if r.p != nil {
		panic(r.p)
	}
	return r.err
}

// Dup returns a duplicate of the namespace descriptor fd that the caller
// owns: close-on-exec, and numbered 3 or above, so that it can never be 0 (a
// program started with stdin closed would otherwise get 0, which every
// netpulse package reads as "the caller's namespace"). A constructor keeps
// such a copy because its caller may close its own descriptor, or reuse
// the number for another namespace, right after the constructor returns.
func Dup(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return -1, fmt.Errorf("duplicate namespace descriptor %d: %w", fd, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
	}
	return nfd, nil
}
