// Package dashboardtest reads the Grafana dashboard that ships as
// metrics/dashboard.json, for the tests that keep it honest: the metrics
// package's own check of its structure, and the end-to-end test that
// evaluates its queries in a real Prometheus scraping a real stompd.
//
// It models only the parts of Grafana's dashboard JSON those tests read:
// panels (those in collapsed rows too) with their targets, and template
// variables. Everything it returns is the caller's; it keeps no state and
// is safe for concurrent use.
package dashboardtest
