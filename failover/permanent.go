package failover

import (
	"errors"
	"os"
)

// ErrMemberMissing: a configured member interface does not exist. An
// Actuator returns it (or an error wrapping ENODEV) when asked to act on
// an interface that is not there.
var ErrMemberMissing = errors.New("failover: member interface does not exist")

// IsPermanent reports whether an Actuator error is permanent: retrying the
// same call cannot succeed until something changes on the host. These are
// a missing privilege (EPERM, EACCES: errors.Is(err, os.ErrPermission)), a
// missing member (ErrMemberMissing, ENODEV) and an address conflict
// (*ConflictError). The engine reports a permanent error at once (an
// ActionErrorEvent with Permanent set, GroupStatus.PermanentError) and does
// not retry the move on a timer; it tries again only when a member's
// health changes or the application asks for a move.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var ce *ConflictError
	return errors.Is(err, os.ErrPermission) || errors.Is(err, ErrMemberMissing) || isNoDevice(err) || errors.As(err, &ce)
}
