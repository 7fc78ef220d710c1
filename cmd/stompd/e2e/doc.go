// Package e2e holds end-to-end tests of the stompd binary that need more
// than the binary: they build cmd/stompd with go build, run it as a child
// process on free loopback ports beside a real Prometheus scraping it,
// drive a scripted workload over TCP, WebSocket and HTTP, and check the
// metrics it exposes and every query of the Grafana dashboard
// (metrics/dashboard.json) against them. The package has no code of its
// own; its tests are run with go test ./cmd/stompd/e2e.
//
// Prometheus and promtool come from the Debian package prometheus. When
// they are missing the tests skip with a message saying so, and fail
// instead under CI=true, where a missing program means the CI image lacks
// a package.
package e2e
