package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/persist/redistest"
)

// TestUserCommandsOnRedis manages users with --redis, as while nodes run:
// add, list, passwd and del work on the shared users; passwd and del end
// the user's logins (their sids denied in Redis, which every node hears);
// unlock clears the shared failed-login counts. The data dir is not
// touched.
func TestUserCommandsOnRedis(t *testing.T) {
	r := redistest.Start(t)
	data := t.TempDir() + "/unused"
	redis := []string{"--redis", r.URL(), "--data", data}
	if code, out, errOut := runUser(append([]string{"add", "--email", "ada@example.com", "--password", "ada password", "--roles", "admin,chat"}, redis...)...); code != 0 || !strings.Contains(out, "added ada@example.com") {
		t.Fatalf("add: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, _ := runUser(append([]string{"list"}, redis...)...); code != 0 || !strings.Contains(out, "ada@example.com") || !strings.Contains(out, "admin,chat") {
		t.Fatalf("list: exit %d, %q", code, out)
	}
	store := redisstore.New(newTestRedisClient(t, r.URL()), redisstore.Options{})
	sid := startRedisLogin(t, store, "ada@example.com")
	if code, _, errOut := runUser(append([]string{"passwd", "--email", "ada@example.com", "--password", "new password"}, redis...)...); code != 0 {
		t.Fatalf("passwd: exit %d, %q", code, errOut)
	}
	if denied, err := store.Denied(); err != nil || denied[sid].IsZero() {
		t.Errorf("after passwd the login %s is not denied: %v, %v", sid, denied, err)
	}

	l := auth.ThrottleLimits{Pair: 5, Address: 30, Account: 50, Window: auth.DefaultThrottleWindow}
	for range 3 {
		store.Reserve(auth.AccountKey("ada@example.com"), [32]byte{1}, l, time.Now())
	}
	if code, out, _ := runUser("unlock", "--redis", r.URL(), "--email", "Ada@example.com"); code != 0 || !strings.Contains(out, "forgot 3 failed logins") {
		t.Errorf("unlock: exit %d, %q", code, out)
	}

	sid = startRedisLogin(t, store, "ada@example.com")
	if code, _, errOut := runUser(append([]string{"del", "--email", "ada@example.com"}, redis...)...); code != 0 {
		t.Fatalf("del: exit %d, %q", code, errOut)
	}
	if denied, _ := store.Denied(); denied[sid].IsZero() {
		t.Errorf("after del the login %s is not denied", sid)
	}
	if code, out, _ := runUser(append([]string{"list"}, redis...)...); code != 0 || strings.Contains(out, "ada@example.com") {
		t.Errorf("list after del: exit %d, %q", code, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the user commands on Redis made the data dir: %v", err)
	}
}

// TestUserCommandOnUnreachableRedis fails in one line naming the Redis,
// without its password.
func TestUserCommandOnUnreachableRedis(t *testing.T) {
	code, stdout, stderr := runUser("list", "--redis", "redis://:hunter2@127.0.0.1:1")
	checkOneLineRefusal(t, code, stdout, stderr, "--redis", "127.0.0.1:1")
	if strings.Contains(stderr, "hunter2") {
		t.Errorf("the error shows the password: %q", stderr)
	}
}

// startRedisLogin starts a login of email in store, as a node would, and
// returns its sid.
func startRedisLogin(t *testing.T, store *redisstore.Store, email string) string {
	t.Helper()
	u, err := store.UserByEmail(email)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := store.CreateRefresh([32]byte{byte(time.Now().UnixNano())}, u.ID, time.Now().Add(time.Hour), time.Now().Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return rt.Family
}

// newTestRedisClient connects as the user command does, until the test ends.
func newTestRedisClient(t *testing.T, url string) rueidis.Client {
	t.Helper()
	c, err := newRedisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
