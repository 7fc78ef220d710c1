package e2e_test

import (
	"testing"
	"time"

	"github.com/stompd/stompd/metrics/dashboardtest"
)

// dashboardFile is the Grafana dashboard that ships with stompd.
const dashboardFile = "../../../metrics/dashboard.json"

// TestDashboardQueriesAgainstPrometheus runs the real stompd and a real
// Prometheus scraping its --metrics listener, as a deployment should (the
// public listener answers /metrics with 404), drives a scripted workload,
// checks the counters it must leave and lints the exposition with
// promtool, then evaluates every panel and variable query of the
// dashboard: each must parse and return a series with a number.
func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	promBin := requireTool(t, "prometheus")
	promtool := requireTool(t, "promtool")
	d, err := dashboardtest.Load(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}

	s := startStompd(t)
	s.checkNoPublicMetrics(t)
	begin := time.Now()
	prom := startPrometheus(t, promBin, s.metricsAddr)
	// Rates and quantiles need a sample from before the workload.
	prom.waitForScrapesSince(t, begin, 1)
	runWorkload(t, s)

	raw, fams := s.settle(t)
	checkCounters(t, fams)
	checkPromtool(t, promtool, raw)

	prom.waitForScrapesSince(t, s.settledAt, 2)
	vars := dashboardtest.Vars(scrapeJob)
	for _, q := range d.Queries() {
		if err := prom.expectSeries(q.Expr, vars, ""); err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
	}
	qs, err := d.VariableQueries()
	if err != nil {
		t.Error(err)
	}
	for _, q := range qs {
		if err := prom.expectSeries(q.Expr, vars, q.Label); err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
	}
}
