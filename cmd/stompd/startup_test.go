package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/persist/redistest"
)

// runChildOnce runs stompd with args and extra environment variables in a
// child process until it exits, and returns its exit code and outputs.
// A child still running after childStart is killed and fails the test.
func runChildOnce(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childStart)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), childArgsEnv+"="+strings.Join(args, " "))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("stompd %s was still running after %v: it started", strings.Join(args, " "), childStart)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// checkOneLineRefusal checks what a refused start printed: nothing on
// stdout, and on stderr one line holding every part of want, without a
// trace or the whole help.
func checkOneLineRefusal(t *testing.T, code int, stdout, stderr string, want ...string) {
	t.Helper()
	msg := strings.TrimRight(stderr, "\n")
	lines := strings.Split(msg, "\n")
	var missing []string
	for _, w := range want {
		if !strings.Contains(msg, w) {
			missing = append(missing, w)
		}
	}
	switch {
	case code == 0:
		t.Errorf("exit code 0, want a failure; stderr %q", stderr)
	case stdout != "":
		t.Errorf("stdout %q, want nothing", stdout)
	case len(lines) != 1 || msg == "":
		t.Errorf("stderr has %d lines, want one; it starts %q", len(lines), lines[:min(3, len(lines))])
	case strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine"):
		t.Errorf("stderr holds a trace: %q", msg)
	case len(missing) > 0:
		t.Errorf("stderr %q lacks %q", msg, missing)
	}
}

// TestBadSettingsStopTheStartWithOneLine starts the real binary with each
// bad setting a first-time operator or a typo produces, and checks that it
// exits non-zero with one line naming the setting and how to fix it.
func TestBadSettingsStopTheStartWithOneLine(t *testing.T) {
	dir := t.TempDir()
	shortSecret := filepath.Join(dir, "short.secret")
	writeFileAt(t, shortSecret, []byte("tooshort"))
	rulesFile := func(rule string) string {
		return writeFile(t, "rules.toml", "[[rules]]\n"+rule+"\nread = true\n")
	}
	idpDown := idptest.New(t, "k1")
	idpDown.SetDown(true)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string // parts of the one line: the setting, then the fix
	}{
		{"origin without a scheme", nil, []string{"--allowed-origins", "app.example.com"}, []string{"allowed-origins", `"app.example.com"`, "scheme://host"}},
		{"upgrade-auth query-token", nil, []string{"--upgrade-auth", "query-token"}, []string{"upgrade-auth", `"query-token"`, strings.Join(auth.UpgradeStrategyNames(), ", ")}},
		{"upgrade-auth none", nil, []string{"--upgrade-auth", "none"}, []string{"upgrade-auth", `"none"`, "anonymous"}},
		{"missing public key", nil, []string{"--jwt-public-key", "/missing.pem"}, []string{"jwt-public-key", "/missing.pem", "no such file"}},
		{"missing HS256 secret", nil, []string{"--jwt-hs256-secret-file", "/missing"}, []string{"jwt-hs256-secret-file", "/missing", "no such file"}},
		{"short HS256 secret", nil, []string{"--jwt-hs256-secret-file", shortSecret}, []string{"jwt-hs256-secret-file", "at least 32"}},
		{"rule pattern without a slash", nil, []string{"--config", rulesFile(`pattern = "topic/news"`)}, []string{"rules", `"topic/news"`, "start with /"}},
		{"rule with roles = []", nil, []string{"--config", rulesFile("pattern = \"/topic/news\"\nroles = []")}, []string{"rules", "number 1", "roles = []", "leave roles out"}},
		{"rule with roles and no right", nil, []string{"--config", writeFile(t, "rules.toml", "[[rules]]\npattern = \"/topic/news\"\nroles = [\"admin\"]\n")},
			[]string{"rules", "number 1", "without read or write", "set read or write"}},
		{"misspelled rule key", nil, []string{"--config", rulesFile(`patern = "/topic/news"`)}, []string{"rules", "patern", "pattern"}},
		{"unknown flag", nil, []string{"--nope"}, []string{"nope", "stompd --help"}},
		{"flag without its value", nil, []string{"--access-ttl"}, []string{"access-ttl", "stompd --help"}},
		{"duration without a unit", nil, []string{"--access-ttl", "5"}, []string{`--access-ttl "5"`, "needs a unit", "15m"}},
		{"duration from the environment", []string{"STOMPD_REFRESH_TTL=14d"}, nil, []string{`STOMPD_REFRESH_TTL "14d"`, "336h"}},
		{"duration in the config file", nil, []string{"--config", writeFile(t, "stompd.toml", `ticket-ttl = "soon"`)}, []string{"ticket-ttl", `"soon"`, "30s"}},
		{"number that is not one", nil, []string{"--max-headers", "many"}, []string{`--max-headers "many"`, "whole number"}},
		{"unknown config key", nil, []string{"--config", writeFile(t, "stompd.toml", `acess-ttl = "1m"`)}, []string{`"acess-ttl"`, "stompd --help"}},
		{"log level", nil, []string{"--log-level", "loud"}, []string{"log-level", `"loud"`, "debug, info, warn or error"}},
		{"missing TLS files", nil, []string{"--tls-cert", "/missing.crt", "--tls-key", "/missing.key"}, []string{"tls-cert", "/missing.crt"}},
		{"missing config file", nil, []string{"--config", "/missing.toml"}, []string{"config", "/missing.toml"}},
		{"redis URL of another scheme", nil, []string{"--redis", "http://127.0.0.1:6379"}, []string{"--redis", `"http://127.0.0.1:6379"`, "neither redis nor rediss", "redis://h1:p1?addr=h2:p2"}},
		{"redis URL from the environment", []string{"STOMPD_REDIS=redis://127.0.0.1:6379/zero"}, nil, []string{"STOMPD_REDIS", "invalid database number", "redis://[user:pass@]host:port[/db]"}},
		{"redis URL parameter misspelled", nil, []string{"--config", writeFile(t, "stompd.toml", `redis = "redis://h1:7000?adr=h2:7001"`)}, []string{"stompd.toml: redis", `unknown parameter "adr"`}},
		{"redis that does not answer", nil, []string{"--redis", "redis://" + closedAddr(t)}, []string{"--redis", "Redis does not answer", "refused"}},
		{"redis URL without a host", nil, []string{"--redis", "redis://"}, []string{"--redis", "without a host"}},
		{"redis seed address left empty", nil, []string{"--redis", "redis://127.0.0.1:1?addr="}, []string{"--redis", "without a host"}},
		{"redis that refuses the credentials", nil, []string{"--redis", strings.Replace(redistest.Start(t, "--requirepass", "s3cret").URL(), "redis://", "redis://default:wrong@", 1)},
			[]string{"--redis", "Redis refused the credentials", "xxxxx"}},
		{"access token expired when issued", []string{"STOMPD_ACCESS_TTL=1ns"}, nil, []string{`STOMPD_ACCESS_TTL "1ns"`, "at least 2s", "15m"}},
		{"negative history size", []string{"STOMPD_HISTORY_SIZE=-5"}, nil, []string{`STOMPD_HISTORY_SIZE "-5"`, "0 (no history)"}},
		{"demo on a cluster", nil, []string{"--demo", "--redis", "redis://127.0.0.1:1"}, []string{"--demo", "--redis"}},
		{"jwks-url with jwks-file", nil, []string{"--jwks-url", "https://idp.example.com/jwks", "--jwks-file", "keys.json"}, []string{"--jwks-file and --jwks-url exclude each other"}},
		{"jwks-url with a public key", []string{"STOMPD_JWT_PUBLIC_KEY=key.pem"}, []string{"--jwks-url", "https://idp.example.com/jwks"}, []string{"--jwt-public-key and --jwks-url exclude each other"}},
		{"jwks-url in clear text", nil, []string{"--jwks-url", "http://idp.example.com/jwks"}, []string{"--jwks-url", `"http://idp.example.com/jwks"`, "https://", "loopback"}},
		{"jwks-url of an IdP that is down", nil, []string{"--jwks-url", idpDown.URL()}, []string{"--jwks-url", idpDown.URL(), "503"}},
		{"jwks-url refresh of zero", nil, []string{"--jwks-url", "https://idp.example.com/jwks", "--jwks-refresh", "0s"}, []string{"--jwks-refresh", "positive duration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--stomp", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runChildOnce(t, tc.env, args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
		})
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return l.Addr().String()
}

// TestUpgradeAuthHelpListsWhatStarts checks that --help offers exactly the
// upgrade strategies the parser accepts, and that a server starts with
// each of them.
func TestUpgradeAuthHelpListsWhatStarts(t *testing.T) {
	var help bytes.Buffer
	if code := run([]string{"--help"}, &help, &help); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	_, doc, _ := strings.Cut(help.String(), "--upgrade-auth ")
	doc, _, _ = strings.Cut(doc, "\n  --")
	names := auth.UpgradeStrategyNames()
	if !strings.Contains(doc, strings.Join(names, ", ")) {
		t.Errorf("--help for --upgrade-auth does not list %v:\n%s", names, doc)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, "--upgrade-auth", name)
			waitStatus(t, ts.url+"/readyz", 200)
		})
	}
	startServer(t, "--upgrade-auth", strings.Join(names, ","))
}

// TestListenAddressWithoutPortStopsTheStart checks that an empty --http,
// from a flag or the config file, and a listen address without a port,
// stop the start with one line instead of listening on every interface or
// on a random port; an empty --stomp or --pprof still disables that
// listener.
func TestListenAddressWithoutPortStopsTheStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"empty --http", []string{"--http="}, []string{"--http", `""`, "127.0.0.1:8080"}},
		{"empty http in the config file", []string{"--config", writeFile(t, "stompd.toml", `http = ""`)}, []string{"http", `""`, "127.0.0.1:8080"}},
		{"--http without a port", []string{"--http=127.0.0.1:"}, []string{"--http", `"127.0.0.1:"`, "port"}},
		{"--stomp without a port", []string{"--http=127.0.0.1:0", "--stomp=:"}, []string{"--stomp", `":"`, "port"}},
		{"--pprof without a port", []string{"--http=127.0.0.1:0", "--pprof=localhost:"}, []string{"--pprof", `"localhost:"`, "port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "--stomp=127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runChildOnce(t, nil, args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
		})
	}
	c, err := parseConfig([]string{"--stomp", "", "--pprof", ""}, io.Discard)
	if err != nil || c.STOMPAddr != "" || c.PprofAddr != "" {
		t.Errorf("an empty --stomp and --pprof: %v; want them accepted, and so disabled", err)
	}
}
