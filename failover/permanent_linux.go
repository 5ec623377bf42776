//go:build linux

package failover

import (
	"errors"

	"golang.org/x/sys/unix"
)

func isNoDevice(err error) bool { return errors.Is(err, unix.ENODEV) }
