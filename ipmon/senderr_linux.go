//go:build linux

package ipmon

import (
	"errors"

	"golang.org/x/sys/unix"
)

// localSendError reports whether err means only that this host lacks buffer
// space for the moment (see senderr.go).
func localSendError(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}
