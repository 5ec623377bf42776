//go:build !linux

package ipmon

// localSendError: no kernel transport here; every refusal is a miss.
func localSendError(err error) bool { return false }
