package route

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// textRoundTrip checks String, MarshalText and UnmarshalText of one value.
func textRoundTrip[T interface {
	~uint8
	String() string
	MarshalText() ([]byte, error)
}](t *testing.T, v T, want string, unmarshal func([]byte) (T, error)) {
	t.Helper()
	require.Equal(t, want, v.String())
	b, err := v.MarshalText()
	require.NoError(t, err)
	require.Equal(t, want, string(b))
	got, err := unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, v, got, "round trip of %q", want)
}

func TestTypeText(t *testing.T) {
	for v, want := range map[Type]string{
		TypeUnspec: "none", TypeUnicast: "unicast", TypeLocal: "local", TypeBroadcast: "broadcast",
		TypeAnycast: "anycast", TypeMulticast: "multicast", TypeBlackhole: "blackhole",
		TypeUnreachable: "unreachable", TypeProhibit: "prohibit", TypeThrow: "throw", TypeNAT: "nat",
		TypeXResolve: "xresolve", 12: "12", 255: "255",
	} {
		textRoundTrip(t, v, want, func(b []byte) (Type, error) { var x Type; return x, x.UnmarshalText(b) })
	}
}

func TestProtocolText(t *testing.T) {
	for v, want := range map[Protocol]string{
		ProtocolUnspec: "unspec", ProtocolRedirect: "redirect", ProtocolKernel: "kernel", ProtocolBoot: "boot",
		ProtocolStatic: "static", ProtocolGated: "gated", ProtocolRA: "ra", ProtocolMRT: "mrt",
		ProtocolZebra: "zebra", ProtocolBird: "bird", ProtocolDNRouted: "dnrouted", ProtocolXORP: "xorp",
		ProtocolNTK: "ntk", ProtocolDHCP: "dhcp", ProtocolKeepalived: "keepalived", ProtocolBabel: "babel",
		ProtocolOpenR: "openr", ProtocolBGP: "bgp", ProtocolISIS: "isis", ProtocolOSPF: "ospf",
		ProtocolRIP: "rip", ProtocolEIGRP: "eigrp",
		Protocol(netpulse.DefaultRouteProtocol): "241", 5: "5", 17: "17", 193: "193", 255: "255",
	} {
		textRoundTrip(t, v, want, func(b []byte) (Protocol, error) { var x Protocol; return x, x.UnmarshalText(b) })
	}
}

func TestScopeText(t *testing.T) {
	for v, want := range map[Scope]string{
		ScopeUniverse: "global", ScopeSite: "site", ScopeLink: "link", ScopeHost: "host", ScopeNowhere: "nowhere",
		1: "1", 252: "252",
	} {
		textRoundTrip(t, v, want, func(b []byte) (Scope, error) { var x Scope; return x, x.UnmarshalText(b) })
	}
}

func TestKindsUnmarshalRejects(t *testing.T) {
	var ty Type
	var p Protocol
	var s Scope
	for _, in := range []string{"", "bogus", "256", "-1", "Kernel"} {
		require.Error(t, ty.UnmarshalText([]byte(in)), in)
		require.Error(t, p.UnmarshalText([]byte(in)), in)
		require.Error(t, s.UnmarshalText([]byte(in)), in)
	}
}

// Routes marshal to JSON with the words, and read back the same.
func TestRouteJSONWords(t *testing.T) {
	r := Route{Dst: netip.MustParsePrefix("198.18.10.0/24"), Table: TableMain, Protocol: ProtocolKernel,
		Scope: ScopeLink, Type: TypeUnicast}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.Contains(t, string(b), `"Protocol":"kernel","Scope":"link","Type":"unicast"`)
	var back Route
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, back.Equal(&r))
}

func TestRouteString(t *testing.T) {
	eth3 := netpulse.Interface{Index: 3, Name: "eth3"}
	for _, c := range []struct {
		r    Route
		want string
	}{
		{Route{Dst: netip.MustParsePrefix("198.18.10.0/24"), Table: TableMain, Metric: 100, Protocol: ProtocolKernel,
			Scope: ScopeLink, Type: TypeUnicast, Src: netip.MustParseAddr("198.18.10.3"),
			Nexthops: []Nexthop{{Interface: eth3, Weight: 1}}},
			"198.18.10.0/24 dev eth3 proto kernel scope link src 198.18.10.3 metric 100"},
		{Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: TableMain, Protocol: ProtocolBoot, Type: TypeUnicast,
			Nexthops: []Nexthop{{Interface: eth3, Gateway: netip.MustParseAddr("198.18.10.1"), Flags: FlagLinkDown, Weight: 1}}},
			"default via 198.18.10.1 dev eth3 linkdown"},
		{Route{Dst: netip.MustParsePrefix("198.18.10.3/32"), Table: TableLocal, Protocol: ProtocolKernel,
			Scope: ScopeHost, Type: TypeLocal, Src: netip.MustParseAddr("198.18.10.3"), Nexthops: []Nexthop{{Interface: eth3, Weight: 1}}},
			"local 198.18.10.3 dev eth3 table local proto kernel scope host src 198.18.10.3"},
		{Route{Dst: netip.MustParsePrefix("198.19.2.0/24"), Table: 100, Metric: 7, Protocol: Protocol(netpulse.DefaultRouteProtocol), Type: TypeUnreachable},
			"unreachable 198.19.2.0/24 table 100 proto 241 metric 7"},
		{Route{Dst: netip.MustParsePrefix("2001:db8::/64"), Table: TableMain, Protocol: ProtocolStatic, Type: TypeUnicast, Metric: 1024,
			Nexthops: []Nexthop{{Interface: eth3, Gateway: netip.MustParseAddr("2001:db8::1"), Weight: 1},
				{Interface: netpulse.Interface{Index: 2, Name: "eth2"}, Gateway: netip.MustParseAddr("2001:db8::2"), Weight: 2, Flags: FlagDead | FlagLinkDown}}},
			"2001:db8::/64 proto static metric 1024 nexthop via 2001:db8::1 dev eth3 weight 1 nexthop via 2001:db8::2 dev eth2 weight 2 dead linkdown"},
	} {
		require.Equal(t, c.want, c.r.String())
	}
}
