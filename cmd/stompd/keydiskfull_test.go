package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/disktest"
)

// rotateTry is one key rotation on a full disk: whether it was answered
// unavailable, and else from when the new key signs.
type rotateTry func() (unavailable bool, signsFrom time.Time)

// rotateUntilUnavailable rotates until a rotation is answered unavailable,
// each time after the previous key began to sign, and checks that the one
// refused left the ring as it was.
func rotateUntilUnavailable(t *testing.T, what string, try rotateTry, ring func() []string) {
	t.Helper()
	for range diskFullMaxTries {
		before := ring()
		unavailable, signsFrom := try()
		if unavailable {
			if after := ring(); !slices.Equal(after, before) {
				t.Errorf("%s answered unavailable changed the ring from %v to %v", what, before, after)
			}
			return
		}
		time.Sleep(time.Until(signsFrom))
	}
	t.Fatalf("%d %ss stored on a full disk", diskFullMaxTries, what)
}

// TestKeyRotateOnAFullDisk rotates the signing key on a full disk, once
// logins are answered 503: through the admin API the answer is 503
// unavailable with Retry-After, through stompd key rotate (the server's
// control socket) a non-zero exit that says unavailable, and the ring is
// left as it was; once the disk has room, a rotation works.
func TestKeyRotateOnAFullDisk(t *testing.T) {
	disk := disktest.New(t, diskFullSize)
	ada := addCheapUser(t, disk.Dir)
	if code, _, stderr := runUser("roles", "--data", disk.Dir, "--email", ada.email, "--roles", "user,admin"); code != 0 {
		t.Fatalf("user roles: exit %d, %q", code, stderr)
	}
	r := &diskFullRun{t: t, disk: disk, c: startChild(t, disk.Dir), ada: ada}
	admin := keyAdmin{r.c.url, login(t, r.c.url, ada).Access}
	ring := func() []string {
		status, ring, code := admin.call(t, "GET", "/admin/keys")
		if status != http.StatusOK {
			t.Fatalf("GET /admin/keys on a full disk: %d %s", status, code)
		}
		kids := make([]string, len(ring.Keys))
		for i, k := range ring.Keys {
			kids[i] = k.KID
		}
		return kids
	}
	disk.Fill(t, r.c.cmd.Process.Pid)
	r.loginUntilFull(&fullDisk{})
	rotateUntilUnavailable(t, "POST /admin/keys/rotate", func() (bool, time.Time) {
		a := diskPost(t, admin.url+"/admin/keys/rotate", nil, admin.access)
		if a.unavailable(t, "POST /admin/keys/rotate") {
			return true, time.Time{}
		}
		if a.status != http.StatusOK {
			t.Fatalf("POST /admin/keys/rotate on a full disk: %d %v", a.status, a.body)
		}
		return false, signsFromOf(t, a.body)
	}, ring)
	rotateUntilUnavailable(t, "stompd key rotate", func() (bool, time.Time) {
		code, stdout, stderr := runKey("rotate", "--data", disk.Dir)
		switch {
		case code != 0 && strings.Contains(stderr, "unavailable"):
			return true, time.Time{}
		case code != 0:
			t.Fatalf("stompd key rotate on a full disk: exit %d, %q; want a failure saying unavailable", code, stderr)
		}
		var kid, from string
		fmt.Sscanf(stdout, "rotated: key %s is published now and signs from %s\n", &kid, &from)
		signsFrom, _ := time.Parse(time.RFC3339, from)
		return false, signsFrom
	}, ring)
	disk.Free(t)
	rotateByCommand(t, "--data", disk.Dir)
}

// signsFromOf returns from when the newest key of a ring answered as JSON
// signs.
func signsFromOf(t *testing.T, body map[string]any) time.Time {
	t.Helper()
	keys, _ := body["keys"].([]any)
	newest, _ := keys[0].(map[string]any)
	from, _ := newest["signs_from"].(string)
	at, err := time.Parse(time.RFC3339, from)
	if err != nil {
		t.Fatalf("a rotation answered %v", body)
	}
	return at
}
