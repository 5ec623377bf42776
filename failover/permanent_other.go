//go:build !linux

package failover

func isNoDevice(error) bool { return false }
