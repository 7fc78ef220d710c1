package main

import (
	"bytes"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to a new file in a temporary dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFileAt(t, p, []byte(content))
	return p
}

func writeFileAt(t testing.TB, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.STOMPAddr != "127.0.0.1:61613" || c.DataDir != "./data" {
		t.Errorf("listeners and data dir: got %q %q %q", c.HTTPAddr, c.STOMPAddr, c.DataDir)
	}
	if c.Auth.AccessTTL != 15*time.Minute || c.Auth.RefreshTTL != 336*time.Hour || c.Auth.TicketTTL != 30*time.Second {
		t.Errorf("lifetimes: got %v %v %v", c.Auth.AccessTTL, c.Auth.RefreshTTL, c.Auth.TicketTTL)
	}
	if c.Broker.MaxBodySize != 1<<20 || c.Broker.MaxPendingBytes != 4<<20 || c.Broker.MaxFrameSize != 16<<10 {
		t.Errorf("limits: got %d %d %d", c.Broker.MaxBodySize, c.Broker.MaxPendingBytes, c.Broker.MaxFrameSize)
	}
}

// TestConfigPrecedence checks flag > environment > file > default, one
// setting at each level.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "stompd.toml", `
access-ttl = "1m"
refresh-ttl = "2h"
ticket-ttl = "10s"
allowed-origins = ["https://a.example", "https://b.example"]
max-headers = 32
`)
	t.Setenv("STOMPD_REFRESH_TTL", "3h")
	t.Setenv("STOMPD_TICKET_TTL", "20s")
	t.Setenv("STOMPD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
	c, err := parseConfig([]string{"--config", file, "--ticket-ttl", "5s"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"file beats default", c.Auth.AccessTTL, time.Minute},
		{"environment beats file", c.Auth.RefreshTTL, 3 * time.Hour},
		{"flag beats environment", c.Auth.TicketTTL, 5 * time.Second},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if c.AllowedOrigins != "https://a.example,https://b.example" || c.Broker.MaxHeaders != 32 {
		t.Errorf("list and number from the file: got %q %d", c.AllowedOrigins, c.Broker.MaxHeaders)
	}
	r := httptest.NewRequest("POST", "/auth/login", nil)
	r.RemoteAddr, r.Header["X-Forwarded-For"] = "192.0.2.1:4711", []string{"198.51.100.1"}
	if got := c.proxies.ClientAddress(r); got != "198.51.100.1" {
		t.Errorf("trusted proxies from the environment: client %q", got)
	}
}

func TestConfigFromEnvironmentNamesTheFile(t *testing.T) {
	t.Setenv("STOMPD_CONFIG", writeFile(t, "stompd.toml", `issuer = "from-file"`))
	c, err := parseConfig(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Issuer != "from-file" {
		t.Errorf("issuer: got %q", c.Auth.Issuer)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string // a part of the error, naming the key
	}{
		{"unknown key", `acess-ttl = "1m"`, nil, `"acess-ttl"`},
		{"invalid duration", `access-ttl = "soon"`, nil, "access-ttl"},
		{"negative duration", `access-ttl = "-1m"`, nil, "access-ttl"},
		{"zero limit", `max-body-size = 0`, nil, "max-body-size"},
		{"zero destinations", "", []string{"--max-destinations", "0"}, "max-destinations"},
		{"wrong type", `max-headers = "many"`, nil, "max-headers"},
		{"nested table", "[limits]\nmax = 1", nil, `"limits"`},
		{"bad log format", `log-format = "xml"`, nil, "log-format"},
		{"unknown flag", "", []string{"--no-such-flag"}, "no-such-flag"},
		{"tls half set", "", []string{"--tls-cert", "c.pem"}, "tls-cert"},
		{"two verify keys", "", []string{"--jwt-public-key", "a", "--jwks-file", "b"}, "jwks-file"},
		{"stray argument", "", []string{"serve"}, `"serve"`},
		{"trusted proxy not an address", `trusted-proxies = ["10.0.0.0/8", "proxy.local"]`, nil, "trusted-proxies"},
		{"trusted proxy bad range", "", []string{"--trusted-proxies", "10.0.0.0/40"}, "trusted-proxies"},
		{"negative history", "", []string{"--history-size", "-1"}, "--history-size"},
		{"absurd history", `history-size = 5000000`, nil, "history-size"},
		{"zero history ttl", "", []string{"--history-ttl", "0s"}, "--history-ttl"},
		{"absurd history ttl", "", []string{"--history-ttl", "10000h"}, "--history-ttl"},
		{"zero history bytes", "", []string{"--max-history-bytes", "0"}, "max-history-bytes"},
		{"access token expired when issued", "", []string{"--access-ttl", "1ns"}, "--access-ttl"},
		{"access token under two seconds", `access-ttl = "1500ms"`, nil, "at least 2s"},
		{"empty issuer", "", []string{"--issuer", ""}, "--issuer"},
		{"empty audience", `audience = ""`, nil, `stompd.toml: audience "": want the name`},
		{"zero sweep interval in the file", `sweep-interval = "0s"`, nil, `stompd.toml: sweep-interval "0s"`},
		{"heart-beat below its floor", "", []string{"--heart-beat", "1s", "--min-heart-beat", "10s"}, "at least --min-heart-beat (10s)"},
		{"header line too short", "", []string{"--max-header-line", "1"}, "at least 1024"},
		{"heart-beat floor above the default offer", "", []string{"--min-heart-beat", "20s"}, `--min-heart-beat "20s": want at most --heart-beat (10s)`},
		{"heart-beat floor in the file", `min-heart-beat = "20s"`, nil, `stompd.toml: min-heart-beat "20s"`},
		{"frame before CONNECT too short", "", []string{"--max-frame-before-connect", "10"}, `--max-frame-before-connect "10": want at least 1024`},
		{"partial budget below one frame", "", []string{"--max-partial-bytes", "100"}, `--max-partial-bytes "100": want at least 4194304`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeFile(t, "stompd.toml", tc.file)}, args...)
			}
			_, err := parseConfig(args, new(bytes.Buffer))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// A value refused by the checks after parsing is named as the user set
// it: by its environment variable here.
func TestConfigRejectsNamingTheVariable(t *testing.T) {
	t.Setenv("STOMPD_MAX_DESTINATIONS", "-1")
	_, err := parseConfig(nil, new(bytes.Buffer))
	if want := `STOMPD_MAX_DESTINATIONS "-1": want a positive`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %v, want one saying %s", err, want)
	}
}

// TestConfigTakesItsLowerBounds starts from each lower bound that
// TestConfigRejects refuses just below: they are fine, and so is a
// refresh token shorter-lived than the access token.
func TestConfigTakesItsLowerBounds(t *testing.T) {
	args := []string{"--access-ttl", "2s", "--refresh-ttl", "1s", "--heart-beat", "2s", "--min-heart-beat", "2s", "--max-header-line", "1024"}
	c, err := parseConfig(args, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.AccessTTL != minAccessTTL || c.Broker.HeartBeat != c.Broker.MinHeartBeat || c.Broker.MaxHeaderLine != minHeaderLine {
		t.Errorf("got access TTL %v, heart-beat %v (floor %v), header line %d", c.Auth.AccessTTL, c.Broker.HeartBeat, c.Broker.MinHeartBeat, c.Broker.MaxHeaderLine)
	}
}

// A refresh token that lives no longer than the access token is taken,
// and the server says at start what it means.
func TestShortRefreshTTLIsWarnedOf(t *testing.T) {
	ts := startServer(t, "--access-ttl", "1m", "--refresh-ttl", "1m")
	if want := `msg="refresh-ttl is not longer than access-ttl`; !strings.Contains(ts.logs.String(), want) {
		t.Errorf("logs:\n%s\nwant %s", ts.logs.String(), want)
	}
}

func TestExampleConfigParses(t *testing.T) {
	c, err := parseConfig([]string{"--config", "../../testdata/stompd.example.toml"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFormat != "json" || c.AllowedOrigins != "http://localhost:3000,https://app.example.com" {
		t.Errorf("got log format %q, origins %q", c.LogFormat, c.AllowedOrigins)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"--help"}, &out)
	if err == nil {
		t.Fatal("--help: want flag.ErrHelp")
	}
	var c config
	newFlagSet(&c, new(bytes.Buffer)).VisitAll(func(f *flag.Flag) {
		env := "STOMPD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if !strings.Contains(out.String(), "--"+f.Name+" ("+env+", default ") {
			t.Errorf("--help does not list --%s with %s and its default", f.Name, env)
		}
	})
}

// TestHistorySettings reads the topic history settings from their
// defaults, a flag, the environment and the config file.
func TestHistorySettings(t *testing.T) {
	c, err := parseConfig(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker.HistorySize != 100 || c.Broker.HistoryTTL != 5*time.Minute {
		t.Errorf("defaults: history %d messages for %v, want 100 for 5m", c.Broker.HistorySize, c.Broker.HistoryTTL)
	}
	t.Setenv("STOMPD_HISTORY_TTL", "90s")
	file := writeFile(t, "stompd.toml", "history-size = 7\nmax-history-bytes = 65536\n")
	if c, err = parseConfig([]string{"--config", file}, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	if b := c.Broker; b.HistorySize != 7 || b.HistoryTTL != 90*time.Second || b.MaxHistoryBytes != 65536 {
		t.Errorf("from the file and the environment: %d messages, %v, %d bytes", b.HistorySize, b.HistoryTTL, b.MaxHistoryBytes)
	}
	if c, err = parseConfig([]string{"--history-size", "0"}, new(bytes.Buffer)); err != nil || c.Broker.HistorySize != 0 {
		t.Errorf("--history-size 0: %v, %v; want history off", c, err)
	}
}
