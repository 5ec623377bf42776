//go:build !linux

package netns

import "errors"

// ErrGoexit is returned by Do when fn ended its goroutine with
// runtime.Goexit.
var ErrGoexit = errors.New("netns: the function run in the namespace called runtime.Goexit")

// Do runs fn in the caller's namespace (fd 0); other namespaces need Linux.
func Do(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	return &EnterError{FD: fd, Err: errors.ErrUnsupported}
}

// Dup needs Linux.
func Dup(fd int) (int, error) {
	return -1, &EnterError{FD: fd, Err: errors.ErrUnsupported}
}
