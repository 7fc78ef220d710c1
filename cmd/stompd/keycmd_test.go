package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/persist/redistest"
)

// runKey runs stompd key with args in this process and returns its exit
// code, stdout and stderr.
func runKey(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"key"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// rotateByCommand runs stompd key rotate with args, fails the test unless
// it succeeds, and returns the kid of the new key and the time from which
// it signs.
func rotateByCommand(t *testing.T, args ...string) (string, time.Time) {
	t.Helper()
	code, stdout, stderr := runKey(append([]string{"rotate"}, args...)...)
	var kid, from string
	_, err := fmt.Sscanf(stdout, "rotated: key %s is published now and signs from %s\n", &kid, &from)
	signsFrom, terr := time.Parse(time.RFC3339, from)
	if code != 0 || err != nil || terr != nil {
		t.Fatalf("key rotate %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
	}
	return kid, signsFrom
}

// listedKeys runs stompd key list with args and returns its table's rows.
func listedKeys(t *testing.T, args ...string) []string {
	t.Helper()
	code, stdout, stderr := runKey(append([]string{"list"}, args...)...)
	if code != 0 {
		t.Fatalf("key list %v: exit %d, stderr %q", args, code, stderr)
	}
	return strings.Split(strings.TrimSpace(stdout), "\n")[1:]
}

// TestKeyCommandOnARunningServer rotates through the control socket: key
// list shows the new key waiting to sign, the server signs with it from
// its signs_from, and counts the rotation.
func TestKeyCommandOnARunningServer(t *testing.T) {
	ts := startServer(t)
	before := idptest.KID(t, ts.login(t, "ada").Access)
	kid, signsFrom := rotateByCommand(t, "--data", ts.cfg.DataDir)
	if got := idptest.KID(t, ts.login(t, "ada").Access); got != before {
		t.Errorf("server signs with %s right after key rotate, want still %s", got, before)
	}
	if rows := listedKeys(t, "--data", ts.cfg.DataDir); len(rows) != 2 || !strings.Contains(rows[0], "(next: published, signs from") || !strings.Contains(rows[1], "(current: signs until the next key does") {
		t.Errorf("key list right after a rotation:\n%s\nwant %s next, then the current key", strings.Join(rows, "\n"), kid)
	}
	time.Sleep(time.Until(signsFrom))
	if got := idptest.KID(t, ts.login(t, "ada").Access); got != kid {
		t.Errorf("server signs with %s after signs_from, want %s", got, kid)
	}
	rows := listedKeys(t, "--data", ts.cfg.DataDir)
	if len(rows) != 2 || !strings.HasPrefix(rows[0], kid+" ") || !strings.Contains(rows[0], "(current: signs)") {
		t.Errorf("key list after a rotation:\n%s\nwant %s current, then the old key", strings.Join(rows, "\n"), kid)
	}
	if !strings.Contains(metricsText(t, ts.url), "stompd_key_rotations_total 1\n") {
		t.Error("the server did not count the rotation")
	}
}

// TestKeyCommandOffline rotates a stopped server's data dir: the server
// then starts signing with the new key.
func TestKeyCommandOffline(t *testing.T) {
	ts := startServer(t)
	before := idptest.KID(t, ts.login(t, "ada").Access)
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	kid, signsFrom := rotateByCommand(t, "--data", ts.cfg.DataDir, "--access-ttl", "1m")
	if rows := listedKeys(t, "--data", ts.cfg.DataDir); len(rows) != 2 || !strings.HasPrefix(rows[1], before+" ") {
		t.Errorf("key list offline:\n%s\nwant %s, then %s", strings.Join(rows, "\n"), kid, before)
	}
	startAgain(t, ts)
	time.Sleep(time.Until(signsFrom))
	if got := idptest.KID(t, ts.login(t, "ada").Access); got != kid {
		t.Errorf("server started after key rotate signs with %s, want %s", got, kid)
	}
}

// TestKeyCommandOnRedis rotates the keys a cluster shares in Redis while
// a node runs: the node accepts the new key's tokens and lists it.
func TestKeyCommandOnRedis(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess})
	kid, _ := rotateByCommand(t, "--redis", r.URL())
	if keys := listedKeys(t, "--redis", r.URL()); len(keys) != 2 {
		t.Errorf("key list --redis: %q, want two keys", keys)
	}
	waitUntil(t, 2*auth.DefaultKeyReload, "the node signing with the rotated key", func() bool {
		return idptest.KID(t, c.nodes[0].login(t, c.users["ada"]).Access) == kid
	})
}

func TestKeyCommandRefusals(t *testing.T) {
	secret := writeFile(t, "secret", strings.Repeat("s", 40))
	hs := startServer(t, "--jwt-hs256-secret-file", secret)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown subcommand", []string{"spin", "--data", t.TempDir()}, []string{"spin", keyHint}},
		{"negative access-ttl", []string{"rotate", "--data", t.TempDir(), "--access-ttl", "-1m"}, []string{"--access-ttl"}},
		{"missing data dir", []string{"list", "--data", filepath.Join(t.TempDir(), "typo")}, []string{"typo", "no such directory"}},
		{"HS256 server", []string{"rotate", "--data", hs.cfg.DataDir}, []string{"HS256 secret", "restart"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runKey(tc.args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
		})
	}
}
