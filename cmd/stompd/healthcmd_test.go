package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthCommand runs stompd health against a real server, a server
// that is not ready, a closed port, a server too slow to answer, and a
// server speaking HTTPS, and checks its exit code and what it says.
func TestHealthCommand(t *testing.T) {
	ts := startServer(t)
	waitStatus(t, ts.url+"/readyz", 200)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready: Redis does not answer", http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	tlsReady := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsReady.Close)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // what stdout or stderr holds
	}{
		{"ready", []string{"--http", hostPort(ts.url)}, 0, "ready"},
		{"unspecified host", []string{"--http", "0.0.0.0:" + port(ts.url)}, 0, "ready"},
		{"no host", []string{"--http", ":" + port(ts.url)}, 0, "ready"},
		{"not ready", []string{"--http", hostPort(notReady.URL)}, 1, "503 Service Unavailable: not ready: Redis does not answer"},
		{"not listening", []string{"--http", closedAddr(t)}, 1, "connection refused"},
		{"too slow", []string{"--http", hostPort(slow.URL), "--timeout", "200ms"}, 1, "deadline exceeded"},
		{"https", []string{"--http", hostPort(tlsReady.URL), "--tls-cert", "server.pem"}, 0, "ready"},
		{"http to an https server", []string{"--http", hostPort(tlsReady.URL)}, 1, "400 Bad Request"},
		{"no port", []string{"--http", "127.0.0.1"}, 2, `--http "127.0.0.1": want host:port`},
		{"bad timeout", []string{"--timeout", "0s"}, 2, "--timeout must be positive"},
		{"argument", []string{"now"}, 2, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			code := run(append([]string{"health"}, tc.args...), &out, &out)
			if code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out.String(), tc.code, tc.out)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

// TestHealthCommandSettings checks that stompd health finds the address
// where the server does: in STOMPD_HTTP and in the config file.
func TestHealthCommandSettings(t *testing.T) {
	ts := startServer(t)
	waitStatus(t, ts.url+"/readyz", 200)
	t.Run("environment", func(t *testing.T) {
		t.Setenv("STOMPD_HTTP", hostPort(ts.url))
		if code := run([]string{"health"}, new(bytes.Buffer), new(bytes.Buffer)); code != 0 {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("config file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "stompd.toml")
		if err := os.WriteFile(file, []byte("http = \"[::]:"+port(ts.url)+"\"\nhistory-size = 10\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if code := run([]string{"health", "--config", file}, &out, &out); code != 1 || !strings.Contains(out.String(), "http://[::1]:"+port(ts.url)+"/readyz") {
			t.Errorf("exit %d, output %q: want a try on [::1], where the server does not listen", code, out.String())
		}
		t.Setenv("STOMPD_HTTP", "0.0.0.0:"+port(ts.url))
		if code := run([]string{"health", "--config", file}, &out, &out); code != 0 {
			t.Errorf("STOMPD_HTTP over the config file: exit %d, output %q", code, out.String())
		}
	})
	t.Run("help", func(t *testing.T) {
		var out bytes.Buffer
		if code := run([]string{"health", "--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "HEALTHCHECK") {
			t.Errorf("exit %d, output %q", code, out.String())
		}
	})
}

func hostPort(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	return rest
}

func port(url string) string {
	_, p, _ := net.SplitHostPort(hostPort(url))
	return p
}
