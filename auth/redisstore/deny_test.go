package redisstore

import (
	"net/http"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
)

// TestLogoutEndsSessionsOnEveryNodeWithinASecond logs out on node A: B and
// C close that login's sessions (OnLogout) and refuse its access token
// within a second; another login of the same user is untouched.
func TestLogoutEndsSessionsOnEveryNodeWithinASecond(t *testing.T) {
	r := redistest.Start(t)
	a, b, c := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	mustAddUser(t, a.store, "alice@example.com")
	tk, other := a.login(t, "alice@example.com"), a.login(t, "alice@example.com")
	claims, _ := b.svc.VerifyAccess(tk.AccessToken)
	start := time.Now()
	if s, _ := a.post(t, "/auth/logout", tk.AccessToken, nil); s != http.StatusNoContent {
		t.Fatalf("logout: %d", s)
	}
	for name, n := range map[string]*node{"B": b, "C": c} {
		if !within(oneSecond, func() bool { return n.loggedOut(claims.SID) && n.deniedHere(tk.AccessToken) }) {
			t.Errorf("node %s: the login's sessions not ended within 1 s of the logout", name)
		}
		if _, err := n.svc.VerifyAccess(other.AccessToken); err != nil {
			t.Errorf("node %s: the user's other login: %v", name, err)
		}
	}
	t.Logf("logout on A reached B and C in %v", time.Since(start))
}

// TestPasswordChangeAndDeletionEndLoginsOnEveryNode: what `stompd user
// passwd` and `user del` do on Redis ends every login of that user on
// every node, through the published denials.
func TestPasswordChangeAndDeletionEndLoginsOnEveryNode(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	admin := New(redistest.Client(t, r.URL()), Options{})
	mustAddUser(t, admin, "alice@example.com")
	mustAddUser(t, admin, "bob@example.com")
	alice, bob := a.login(t, "alice@example.com"), a.login(t, "bob@example.com")
	if err := admin.SetPassword("ALICE@example.com", []byte("new hash")); err != nil {
		t.Fatal(err)
	}
	if !within(oneSecond, func() bool { return b.deniedHere(alice.AccessToken) }) {
		t.Error("node B still accepts alice's access token 1 s after her password changed")
	}
	if s, _ := b.post(t, "/auth/refresh", "", map[string]string{"refresh_token": alice.RefreshToken}); s != http.StatusUnauthorized {
		t.Errorf("alice's refresh token after the password change: %d, want 401", s)
	}
	if err := admin.DeleteUser("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if !within(oneSecond, func() bool { return b.deniedHere(bob.AccessToken) }) {
		t.Error("node B still accepts bob's access token 1 s after he was deleted")
	}
	if err := admin.DeleteUser("bob@example.com"); err == nil {
		t.Error("deleting a deleted user succeeded")
	}
}

// TestDenialMissedWhileCutOffIsApplied: a denial made while a node's watch
// was not subscribed (stopped, or its connection killed) is applied when
// it subscribes again, from the denials Redis holds.
func TestDenialMissedWhileCutOffIsApplied(t *testing.T) {
	r := redistest.Start(t)
	a := startNode(t, r.URL(), nil)
	b := newNode(t, r.URL(), nil)
	if err := a.store.Deny("sid-missed", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b.watch(t)
	if !within(oneSecond, func() bool { return b.loggedOut("sid-missed") }) {
		t.Fatal("a denial made before the watch started was not applied")
	}
	if _, err := r.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Deny("sid-during-reconnect", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !within(3*time.Second, func() bool { return b.loggedOut("sid-during-reconnect") }) {
		t.Error("a denial made while the watch reconnected was not applied")
	}
}

// TestDenialWatchRecoversAfterRedisRestart: the watch survives Redis going
// away and coming back, and denials made after the restart reach the node.
func TestDenialWatchRecoversAfterRedisRestart(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	r.Kill()
	time.Sleep(300 * time.Millisecond) // let the watch notice and retry
	r.Restart()
	var err error
	if !within(5*time.Second, func() bool {
		err = a.store.Deny("sid-after-restart", time.Now().Add(time.Minute))
		return err == nil && b.loggedOut("sid-after-restart")
	}) {
		t.Errorf("a denial after Redis restarted did not reach B within 5 s (last deny: %v)", err)
	}
}
