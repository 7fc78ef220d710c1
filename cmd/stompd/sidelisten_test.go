package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSideListenersServeWhatTheirFlagsName starts servers with --metrics,
// --pprof, both on one address, both on two, and neither, and checks which
// listener answers /metrics and pprof's index: each on the listener its
// flag names and nowhere else, on --http only what no flag moved.
func TestSideListenersServeWhatTheirFlagsName(t *testing.T) {
	const metrics, pprof = "/metrics", "/debug/pprof/"
	for _, tc := range []struct {
		name  string
		args  []string
		sides int
		want  map[string][]string // the paths served, by listener: http or a flag
	}{
		{"neither", nil, 0, map[string][]string{"http": {metrics}}},
		{"--metrics", []string{"--metrics", "127.0.0.1:0"}, 1, map[string][]string{"http": nil, "metrics": {metrics}}},
		{"--pprof", []string{"--pprof", "127.0.0.1:0"}, 1, map[string][]string{"http": {metrics}, "pprof": {pprof}}},
		{"both on one address", []string{"--metrics", "127.0.0.1:0", "--pprof", "127.0.0.1:0"}, 1,
			map[string][]string{"http": nil, "metrics": {metrics, pprof}, "pprof": {metrics, pprof}}},
		{"both on two addresses", []string{"--metrics", "127.0.0.1:0", "--pprof", closedAddr(t)}, 2,
			map[string][]string{"http": nil, "metrics": {metrics}, "pprof": {pprof}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.args...)
			if len(ts.sides) != tc.sides {
				t.Errorf("%d side listeners, want %d", len(ts.sides), tc.sides)
			}
			for listener, served := range tc.want {
				base := ts.url
				if listener != "http" {
					base = ts.sideURL(t, listener)
				}
				for _, path := range []string{metrics, pprof} {
					checkServed(t, listener, base+path, slices.Contains(served, path))
				}
			}
		})
	}
}

// checkServed checks that url answers 200, with stompd's metrics when it
// is /metrics, or else 404.
func checkServed(t *testing.T, listener, url string, served bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !served && resp.StatusCode != http.StatusNotFound:
		t.Errorf("%s listener: GET %s answered %d, want 404", listener, url, resp.StatusCode)
	case served && resp.StatusCode != http.StatusOK:
		t.Errorf("%s listener: GET %s answered %d, want 200", listener, url, resp.StatusCode)
	case served && strings.HasSuffix(url, "/metrics") && !strings.Contains(string(body), "# TYPE stompd_connections_accepted_total counter"):
		t.Errorf("%s listener: GET %s lacks the stompd_ families:\n%.300s", listener, url, body)
	}
}

// sideURL is the base URL of the side listener that flag names.
func (ts *testServer) sideURL(t *testing.T, flag string) string {
	t.Helper()
	for _, side := range ts.sides {
		if slices.Contains(side.flags, flag) {
			return "http://" + side.l.Addr().String()
		}
	}
	t.Fatalf("no side listener for --%s", flag)
	return ""
}

// TestBadMetricsAddressStopsTheStart starts the binary with a --metrics
// value that is not a listen address, from a flag, the environment and
// the config file, and on a port in use, and checks that each stops the
// start with one line naming the flag.
func TestBadMetricsAddressStopsTheStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"without a port", nil, []string{"--metrics", "127.0.0.1:"}, []string{"--metrics", `"127.0.0.1:"`, "host:port"}},
		{"a port alone", []string{"STOMPD_METRICS=9090"}, nil, []string{`STOMPD_METRICS "9090"`, "host:port"}},
		{"in the config file", nil, []string{"--config", writeFile(t, "stompd.toml", `metrics = "localhost"`)}, []string{`stompd.toml: metrics "localhost"`, "host:port"}},
		{"a port in use", nil, []string{"--metrics", busy.Addr().String()}, []string{"--metrics", busy.Addr().String(), "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--stomp", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runChildOnce(t, tc.env, args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
		})
	}
}

// TestSideListenersCloseAtShutdown scrapes the metrics and pprof
// listeners over connections kept alive, shuts the server down, and checks
// that both listeners refuse connections and that no goroutine is left
// behind: the server closed the connections too.
func TestSideListenersCloseAtShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := startServer(t, "--metrics", "127.0.0.1:0", "--pprof", closedAddr(t))
	// The client keeps its connections open: a server that leaves them
	// open keeps the goroutines of both ends.
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	urls := []string{ts.sideURL(t, "metrics") + "/metrics", ts.sideURL(t, "pprof") + "/debug/pprof/"}
	for _, url := range urls {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := ts.stop(); err != nil {
		t.Fatalf("server run: %v", err)
	}
	for _, side := range ts.sides {
		if c, err := net.DialTimeout("tcp", side.l.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Errorf("--%s listener %s still accepts after shutdown", side.flags[0], side.l.Addr())
		}
	}
	var stacks []byte
	defer func() {
		if t.Failed() {
			t.Logf("goroutines left:\n%s", stacks)
		}
	}()
	waitUntil(t, 5*time.Second, fmt.Sprintf("return to the %d goroutines from before the server", before), func() bool {
		if runtime.NumGoroutine() <= before {
			return true
		}
		stacks = make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		return false
	})
}
