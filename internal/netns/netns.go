// Package netns runs code inside a network namespace, the one way every
// netpulse package does it: on an OS thread that enters the namespace and
// is thrown away afterwards, so that no goroutine ever runs in the wrong
// namespace. Sockets opened inside stay in that namespace.
package netns

import "fmt"

// EnterError reports that the thread could not enter the namespace.
type EnterError struct {
	FD  int
	Err error
}

func (e *EnterError) Error() string {
	return fmt.Sprintf("enter network namespace (fd %d): %v", e.FD, e.Err)
}

// Unwrap returns the cause (e.g. EPERM, EBADF, EINVAL).
func (e *EnterError) Unwrap() error { return e.Err }
