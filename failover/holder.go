package failover

import (
	"context"
	"net/netip"
	"slices"
)

// Holder returns the member that already holds every one of addrs, for
// GroupConfig.Initial when a program starts or restarts: the addresses then
// stay where they are instead of moving to the primary. members are the
// group's members, primary first; with none of them holding the addresses,
// or the addresses spread over several members, it returns members[0].
// Interfaces that are no members are not looked at (the engine's conflict
// check deals with those). Errors are Holders' (errors.ErrUnsupported off
// Linux).
func (a *KernelActuator) Holder(ctx context.Context, members []string, addrs []netip.Prefix) (string, error) {
	if len(members) == 0 {
		return "", nil
	}
	found := ""
	for _, p := range addrs {
		hs, err := a.Holders(ctx, p)
		if err != nil {
			return "", err
		}
		var on []string
		for _, h := range hs {
			if slices.Contains(members, h.Name) {
				on = append(on, h.Name)
			}
		}
		if len(on) != 1 || (found != "" && on[0] != found) {
			return members[0], nil
		}
		found = on[0]
	}
	if found == "" {
		return members[0], nil
	}
	return found, nil
}
