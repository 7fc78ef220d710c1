package main

import (
	"io"
	"maps"
	"testing"
)

// TestPasswordChangeEndsLogins logs ada in, stops the server, changes her
// password with `stompd user passwd` and starts the server again: her old
// refresh and access tokens are refused, and the new password logs in.
func TestPasswordChangeEndsLogins(t *testing.T) {
	ts := startServer(t)
	ada := ts.users["ada"]
	tok := ts.login(t, "ada")
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ada.password = "a new password"
	if code := run([]string{"user", "passwd", "--data", ts.cfg.DataDir, "--email", ada.email, "--password", ada.password}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("user passwd: exit %d", code)
	}
	startAgain(t, ts)
	var e apiError
	if resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, &e); resp.StatusCode != 401 {
		t.Errorf("refresh token of the login before the password change: status %d, want 401", resp.StatusCode)
	}
	if resp := httpJSON(t, "POST", ts.url+"/auth/ticket", nil, &e, "Authorization", "Bearer "+tok.Access); resp.StatusCode != 401 || e.Error != "session_revoked" {
		t.Errorf("access token of the login before the password change: status %d, error %q; want 401 session_revoked", resp.StatusCode, e.Error)
	}
	ts.login(t, "ada")
}

// TestDemoRestartKeepsLogins restarts stompd --demo: the demo passwords
// stay the same, so it changes none, and a login from before the restart
// still refreshes.
func TestDemoRestartKeepsLogins(t *testing.T) {
	srv := startDemo(t, "1m")
	before := srv.passwords
	alice := demoUsers[0].Email
	tok := login(t, "http://"+srv.addr, &testUser{email: alice, password: before[alice]})
	srv.stop()
	srv.start()
	if !maps.Equal(before, srv.passwords) {
		t.Errorf("demo passwords changed across a restart: %v, then %v", before, srv.passwords)
	}
	if resp := httpJSON(t, "POST", "http://"+srv.addr+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, nil); resp.StatusCode != 200 {
		t.Errorf("refresh of a demo login from before the restart: status %d", resp.StatusCode)
	}
}
