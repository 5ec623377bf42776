//go:build linux

package netns

import (
	"errors"
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
