//go:build linux

package netlab

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestFloodBounds: the generator refuses a rate or a duration beyond its
// bounds and any address outside 198.18.0.0/15, before opening a socket.
func TestFloodBounds(t *testing.T) {
	ok := FloodConfig{
		Dst:          []netip.Addr{netip.MustParseAddr("198.18.1.2")},
		TargetSource: netip.MustParseAddr("198.18.1.1"), OtherSource: netip.MustParseAddr("198.18.1.9"),
		Rate: 1000, Duration: time.Second,
	}
	for name, mut := range map[string]func(*FloodConfig){
		"zero rate":        func(c *FloodConfig) { c.Rate = 0 },
		"rate too high":    func(c *FloodConfig) { c.Rate = MaxFloodRate + 1 },
		"too long":         func(c *FloodConfig) { c.Duration = MaxFloodDuration + time.Second },
		"no destination":   func(c *FloodConfig) { c.Dst = nil },
		"foreign dst":      func(c *FloodConfig) { c.Dst = []netip.Addr{netip.MustParseAddr("192.0.2.1")} },
		"foreign source":   func(c *FloodConfig) { c.OtherSource = netip.MustParseAddr("10.0.0.1") },
		"unset src (zero)": func(c *FloodConfig) { c.TargetSource = netip.Addr{} },
	} {
		c := ok
		mut(&c)
		if _, err := Flood(context.Background(), 0, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
