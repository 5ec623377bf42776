package route

import (
	"context"
	"net/netip"
)

// View is a live view of a namespace's routing state: routes of the
// configured tables with their nexthops and flags, links and addresses.
// It subscribes to route, address, link and netconf notifications before
// dumping and applies route notifications as they come. The kernel
// changes nexthop flags and flushes routes of a downed link without a
// route notification, so a change of a link's admin state, carrier or
// name, a removed address or an ignore_routes_with_linkdown change makes
// the view read again the routes through that interface (a dump filtered
// by output interface; a carrier change alone it applies itself), at
// most once per coalescing window (ViewConfig.Coalesce) however many
// notifications arrived in it; other
// link notifications (statistics, MTU...) cost nothing. An overrun
// (ENOBUFS) makes it dump everything again, at most at a rate that keeps
// full dumps under a fifth of a core. Its methods are safe for concurrent
// use.
type View struct{ k *viewKernel }

// NewView opens a view of the namespace's routing state, dumps it and
// keeps it current until Close. cfg may be nil (defaults). The context
// bounds the initial dump only. The view keeps its own duplicate of
// cfg.NetNS: the caller may close its descriptor once NewView returns.
func NewView(ctx context.Context, cfg *ViewConfig) (*View, error) {
	k, err := newViewKernel(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &View{k: k}, nil
}

// Close stops the view and waits for its goroutine. It is idempotent.
// Subscription channels are closed.
func (v *View) Close() error { return v.k.Close() }

// Subscribe returns a channel that receives a value after each change of
// the view (coalesced: one pending value at most), and a function that
// cancels the subscription. A change of the view's own health
// (ViewSnapshot.Failing) is a change too. The channel is closed by cancel
// or Close.
func (v *View) Subscribe() (<-chan struct{}, func()) { return v.k.Subscribe() }

// Lookup returns the route the kernel would use for dst in the view's
// first table (see Table.Lookup). It does not allocate. Routes of the
// local table (the namespace's own addresses) are not in the view unless
// configured.
func (v *View) Lookup(dst netip.Addr) (Route, bool) { return v.k.Lookup(dst) }

// Select returns the best route to dst in the view's first table whose
// output interface is healthy by h (see Table.Select). It does not
// allocate on success when h does not.
func (v *View) Select(dst netip.Addr, h HealthSource) (Selection, error) { return v.k.Select(dst, h) }

// Read calls fn with the table with the given id (0: the first configured
// table) under the view's read lock; fn must not keep t nor modify it.
// It reports false if the table is not in the view.
func (v *View) Read(table uint32, fn func(t *Table)) bool { return v.k.Read(table, fn) }

// Routes returns every route of the first table.
func (v *View) Routes() []Route { return v.k.Routes() }

// Links returns every link.
func (v *View) Links() []Link { return v.k.Links() }

// Addresses returns the addresses of the interface with the given index,
// or of every interface when index is 0.
func (v *View) Addresses(index int) []Address { return v.k.Addresses(index) }

// Snapshot returns the view's counters.
func (v *View) Snapshot() ViewSnapshot { return v.k.Snapshot() }
