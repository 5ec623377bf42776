package metrics_test

import (
	"fmt"
	"log"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netpulse/netpulse/linkmon/linkmontest"
	"github.com/netpulse/netpulse/metrics"
)

// A Collector reads its sources' snapshots at each scrape: here the
// linkmontest fake stands in for a linkmon.Watcher, so that the example
// runs without a kernel.
func Example() {
	links := linkmontest.New(linkmontest.Link(2, "eth2", true), linkmontest.Link(3, "eth3", true))
	defer links.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Sources{Links: links.Snapshot}))

	scrape := func() {
		families, err := reg.Gather()
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				fmt.Printf("%s{%s=%q} %v\n", f.GetName(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
			}
		}
	}
	scrape()
	if err := links.SetCarrier("eth3", false); err != nil {
		log.Fatal(err)
	}
	fmt.Println("eth3 loses its carrier")
	scrape()
	// Output:
	// netpulse_link_carrier{interface="eth2"} 1
	// netpulse_link_carrier{interface="eth3"} 1
	// eth3 loses its carrier
	// netpulse_link_carrier{interface="eth2"} 1
	// netpulse_link_carrier{interface="eth3"} 0
}
