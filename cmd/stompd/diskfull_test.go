package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/persist/disktest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
	"golang.org/x/crypto/bcrypt"
)

// Bounds of the disk-full scenario: the tmpfs's size, the logins made
// before the disk fills (each a logout to try, and one a refresh chain),
// how many writes of one kind may still fit in the store's free pages
// before one fails, and the size of a persistent message.
const (
	diskFullSize     = 4 << 20
	diskFullLogins   = 100
	diskFullMaxTries = 2000
	diskFullMsgSize  = 4096
)

// Log lines that tell a failing store and its recovery.
const (
	logCannotWrite = "the store cannot write its file"
	logWritesAgain = "the store writes again"
)

// diskAnswer is what the server said to one HTTP request.
type diskAnswer struct {
	status     int
	retryAfter string
	body       map[string]any
}

// diskPost posts in as JSON to url, with a bearer token unless it is empty.
func diskPost(t *testing.T, url string, in any, bearer string) diskAnswer {
	t.Helper()
	var header []string
	if bearer != "" {
		header = []string{"Authorization", "Bearer " + bearer}
	}
	var body map[string]any
	resp := httpJSON(t, "POST", url, in, &body, header...)
	return diskAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), body}
}

// unavailable reports whether a is 503 unavailable with Retry-After and
// nothing else; any other answer than 503 is not, and a 503 that differs
// fails the test.
func (a diskAnswer) unavailable(t *testing.T, what string) bool {
	t.Helper()
	if a.status != http.StatusServiceUnavailable {
		return false
	}
	if a.body["error"] != "unavailable" || a.retryAfter == "" || a.body["access_token"] != nil || a.body["refresh_token"] != nil {
		t.Errorf("%s on a full disk: 503 with Retry-After %q and body %v, want error unavailable and no token", what, a.retryAfter, a.body)
	}
	return true
}

// tokensOf decodes a 200 answer's tokens.
func tokensOf(t *testing.T, a diskAnswer) tokens {
	t.Helper()
	b, _ := json.Marshal(a.body)
	var tok tokens
	if err := json.Unmarshal(b, &tok); err != nil || tok.Access == "" || tok.Refresh == "" {
		t.Fatalf("a 200 answer without tokens: %v", a.body)
	}
	return tok
}

// fullDisk is what one disk-full round left to check once space is back.
type fullDisk struct {
	stored   []tokens // logins and rotations answered 200: each refreshes once
	rotated  []string // refresh tokens rotated (answered 200): refused
	unstored tokens   // the login whose rotation answered 503: refreshes once
	kept     tokens   // the login whose logout answered 503: still alive
	ended    []tokens // logins whose logout answered 204: dead
	receipts []string // bodies of the persistent SENDs that got a RECEIPT
}

// diskFullRun is one server on a data dir whose disk the test fills.
type diskFullRun struct {
	t    *testing.T
	disk *disktest.Disk
	c    *child
	ada  *testUser
	pool []tokens // logins made while the disk had room, not yet used
	// userAdds drives stompd user add too, each a bcrypt hash at the
	// default cost: seconds under the race detector.
	userAdds bool
}

// loginUntilFull logs ada in until a login answers 503, keeping those
// answered 200.
func (r *diskFullRun) loginUntilFull(fd *fullDisk) {
	t := r.t
	for range diskFullMaxTries {
		a := diskPost(t, r.c.url+"/auth/login", map[string]string{"email": r.ada.email, "password": r.ada.password}, "")
		if a.unavailable(t, "login") {
			return
		}
		if a.status != http.StatusOK {
			t.Fatalf("login on a full disk: %d %v", a.status, a.body)
		}
		fd.stored = append(fd.stored, tokensOf(t, a))
	}
	t.Fatalf("%d logins stored on a full disk", diskFullMaxTries)
}

// rotateUntilFull rotates a refresh chain until a refresh answers 503: its
// token is unstored.
func (r *diskFullRun) rotateUntilFull(fd *fullDisk) {
	t := r.t
	cur := r.take()
	for range diskFullMaxTries {
		a := diskPost(t, r.c.url+"/auth/refresh", map[string]string{"refresh_token": cur.Refresh}, "")
		if a.unavailable(t, "refresh") {
			fd.unstored = cur
			return
		}
		if a.status != http.StatusOK {
			t.Fatalf("refresh on a full disk: %d %v", a.status, a.body)
		}
		fd.rotated = append(fd.rotated, cur.Refresh)
		cur = tokensOf(t, a)
	}
	t.Fatalf("%d rotations stored on a full disk", diskFullMaxTries)
}

// logoutUntilFull logs the pool's logins out until a logout answers 503:
// that login is kept, and its access token must still get a ticket.
func (r *diskFullRun) logoutUntilFull(fd *fullDisk) {
	t := r.t
	for len(r.pool) > 0 {
		tok := r.take()
		a := diskPost(t, r.c.url+"/auth/logout", map[string]string{"refresh_token": tok.Refresh}, tok.Access)
		if a.unavailable(t, "logout") {
			fd.kept = tok
			if got := diskPost(t, r.c.url+"/auth/ticket", nil, tok.Access); got.status != http.StatusOK {
				t.Errorf("the access token of a login whose logout answered 503: ticket %d, want 200", got.status)
			}
			return
		}
		if a.status != http.StatusNoContent {
			t.Fatalf("logout on a full disk: %d %v", a.status, a.body)
		}
		fd.ended = append(fd.ended, tok)
	}
	t.Fatalf("%d logouts stored on a full disk", diskFullLogins)
}

// sendUntilFull sends persistent messages, each waiting for its RECEIPT,
// until one gets an ERROR instead; CONNECT works on a full disk.
func (r *diskFullRun) sendUntilFull(fd *fullDisk, round int) {
	t := r.t
	p := stomptest.Dial(t, r.c.stompAddr)
	p.Connect("Authorization:Bearer " + r.take().Access)
	pad := strings.Repeat("x", diskFullMsgSize)
	for i := range diskFullMaxTries {
		body := strconv.Itoa(round) + "/" + strconv.Itoa(i) + "/" + pad
		p.Send(stomp.SEND, body, "destination:/queue/full", "persistent:true", "receipt:"+strconv.Itoa(i))
		f := p.Read()
		switch {
		case f.Command == stomp.ERROR && f.Value("code") == "unavailable":
			return
		case f.Command != stomp.RECEIPT || f.Value("receipt-id") != strconv.Itoa(i):
			t.Fatalf("a persistent SEND on a full disk: %s", stomptest.Dump(f))
		}
		fd.receipts = append(fd.receipts, body)
	}
	t.Fatalf("%d persistent messages stored on a full disk", diskFullMaxTries)
}

// take returns a login of the pool, made while the disk had room.
func (r *diskFullRun) take() tokens {
	if len(r.pool) == 0 {
		r.t.Fatal("the pool of logins is spent")
	}
	tok := r.pool[0]
	r.pool = r.pool[1:]
	return tok
}

// refill logs in enough logins for a round, while the disk has room, two
// at a time (bcrypt takes a while).
func (r *diskFullRun) refill() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	creds := map[string]string{"email": r.ada.email, "password": r.ada.password}
	each := (diskFullLogins - len(r.pool) + 1) / 2
	for range 2 {
		wg.Go(func() {
			for range each {
				var tok tokens
				if status := stormPost(http.DefaultClient, r.c.url+"/auth/login", creds, &tok, ""); status != http.StatusOK {
					r.t.Errorf("login before the disk is full: %d", status)
					return
				}
				mu.Lock()
				r.pool = append(r.pool, tok)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// round fills the disk, drives every kind of write until it fails and
// checks what must go on meanwhile (tickets, CONNECT, a live session, the
// metrics, /readyz), then frees the disk and checks that each answer
// held: what was answered 200 or 204 was stored, what was answered 503
// changed nothing; and that the outage was logged once.
func (r *diskFullRun) round(n int, live *stomptest.Client) fullDisk {
	t := r.t
	r.refill()
	r.disk.Fill(t, r.c.cmd.Process.Pid)
	var fd fullDisk
	r.loginUntilFull(&fd)
	r.rotateUntilFull(&fd)
	r.logoutUntilFull(&fd)
	r.sendUntilFull(&fd, n)
	if r.userAdds {
		r.addUserUntilFull(n)
	}
	r.checkReads(live)
	r.checkReady("degraded")
	r.disk.Free(t)
	r.checkRecovered(fd)
	r.awaitRecovery()
	t.Logf("round %d on a full disk (tmpfs %v): %d logins, %d rotations, %d logouts and %d persistent SENDs stored before one of each failed",
		n, r.disk.Tmpfs, len(fd.stored), len(fd.rotated), len(fd.ended), len(fd.receipts))
	return fd
}

// addUserUntilFull adds users with stompd user add, which goes through
// the running server, until one fails with a message that says why.
func (r *diskFullRun) addUserUntilFull(round int) {
	for i := range diskFullMaxTries {
		email := "new-" + strconv.Itoa(round) + "-" + strconv.Itoa(i) + "@example.com"
		code, _, stderr := runUser("add", "--data", r.disk.Dir, "--email", email, "--password", "new password")
		switch {
		case code != 0 && strings.Contains(stderr, "unavailable"):
			return
		case code != 0:
			r.t.Fatalf("user add on a full disk: exit %d, %q; want a failure saying unavailable", code, stderr)
		}
	}
	r.t.Fatalf("%d users added on a full disk", diskFullMaxTries)
}

// checkReads checks that a full disk leaves alone what writes nothing: a
// ticket, a live session, which still receives what a new connection
// (CONNECT) publishes on a topic, and the metrics, which count the
// failures.
func (r *diskFullRun) checkReads(live *stomptest.Client) {
	t := r.t
	tok := r.take()
	ticket(t, r.c.url, tok.Access)
	p := stomptest.Dial(t, r.c.stompAddr)
	p.Connect("Authorization:Bearer " + tok.Access)
	p.Send(stomp.SEND, "still here", "destination:/topic/live", "receipt:t")
	p.Expect(stomp.RECEIPT, "receipt-id:t")
	if f := live.Expect(stomp.MESSAGE); string(f.Body) != "still here" {
		t.Errorf("the live session received %q", f.Body)
	}
	m := metricsText(t, r.c.url)
	for _, series := range []string{
		`stompd_auth_failures_total{reason="unavailable",stage="login"}`,
		`stompd_auth_failures_total{reason="unavailable",stage="refresh"}`,
		`stompd_auth_failures_total{reason="unavailable",stage="logout"}`,
		"stompd_journal_errors_total",
	} {
		if v, _ := strconv.ParseFloat(sampleValue(m, series), 64); v < 1 {
			t.Errorf("%s = %q on a full disk, want at least 1", series, sampleValue(m, series))
		}
	}
}

// checkReady checks that /readyz answers 200 with a body that contains
// want.
func (r *diskFullRun) checkReady(want string) {
	if !r.ready(want) {
		r.t.Errorf("/readyz: want 200 with %q", want)
	}
}

// ready reports whether /readyz answers 200 with a body that contains
// want.
func (r *diskFullRun) ready(want string) bool {
	resp, err := http.Get(r.c.url + "/readyz")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b), want)
}

// awaitRecovery logs in until the server says its store writes again:
// it waits for storeRecovery without a failure.
func (r *diskFullRun) awaitRecovery() {
	deadline := time.Now().Add(childStart)
	for !r.ready("ok\n") {
		if time.Now().After(deadline) {
			r.t.Fatalf("/readyz still degraded %v after the disk had room", childStart)
		}
		login(r.t, r.c.url, r.ada)
		time.Sleep(storeRecovery / 4)
	}
	if n := r.c.countLogs(r.t, logCannotWrite, logWritesAgain); n != 1 {
		r.t.Errorf("the server logged %q %d times in one outage, want once", logCannotWrite, n)
	}
}

// countLogs reads the child's log lines up to one that contains until and
// returns how many before it contain want.
func (c *child) countLogs(t *testing.T, want, until string) int {
	t.Helper()
	timeout := time.After(childStart)
	n := 0
	for {
		select {
		case m := <-c.msgs:
			if strings.Contains(m, until) {
				return n
			}
			if strings.Contains(m, want) {
				n++
			}
		case <-timeout:
			t.Fatalf("the child never logged %q", until)
		}
	}
}

// checkRecovered checks, once the disk has room again, every answer of a
// round: with no restart, a login works, each token answered 200 refreshes
// once, the one whose rotation answered 503 too, rotated ones are refused,
// the login whose logout answered 503 is alive and those answered 204 are
// dead.
func (r *diskFullRun) checkRecovered(fd fullDisk) {
	t := r.t
	login(t, r.c.url, r.ada)
	for _, tok := range append(fd.stored, fd.unstored, fd.kept) {
		r.c.refresh(t, tok.Refresh, http.StatusOK)
		r.c.refresh(t, tok.Refresh, http.StatusUnauthorized)
	}
	for _, old := range fd.rotated {
		r.c.refresh(t, old, http.StatusUnauthorized)
	}
	for _, tok := range fd.ended {
		r.c.refresh(t, tok.Refresh, http.StatusUnauthorized)
		if a := diskPost(t, r.c.url+"/auth/ticket", nil, tok.Access); a.status != http.StatusUnauthorized {
			t.Errorf("the access token of a login logged out on a full disk: ticket %d, want 401", a.status)
		}
	}
}

// runDiskFull runs rounds of a full disk under one stompd, each drained
// of every kind of write until it fails and then freed, and finally stops
// it with SIGTERM, checks the store and starts it again on the same data
// dir, where every persistent message that got a RECEIPT is delivered,
// once.
func runDiskFull(t *testing.T, rounds int, userAdds bool) {
	disk := disktest.New(t, diskFullSize)
	ada := addCheapUser(t, disk.Dir)
	r := &diskFullRun{t: t, disk: disk, c: startChild(t, disk.Dir), ada: ada, userAdds: userAdds}
	live := stomptest.Dial(t, r.c.stompAddr)
	live.Connect("Authorization:Bearer " + login(t, r.c.url, ada).Access)
	live.Send(stomp.SUBSCRIBE, "", "destination:/topic/live", "id:1", "receipt:s")
	live.Expect(stomp.RECEIPT, "receipt-id:s")
	start := time.Now()
	var receipts []string
	for n := 1; n <= rounds; n++ {
		receipts = append(receipts, r.round(n, live).receipts...)
	}
	t.Logf("%d rounds in %v", rounds, time.Since(start).Round(time.Millisecond))
	r.c.cmd.Process.Signal(syscall.SIGTERM)
	r.c.cmd.Wait()
	if err := persist.Check(filepath.Join(disk.Dir, storeFile)); err != nil {
		t.Fatalf("the store after the disk was full: %v", err)
	}
	r.c = startChild(t, disk.Dir)
	sub := stomptest.Dial(t, r.c.stompAddr)
	sub.Connect("Authorization:Bearer " + login(t, r.c.url, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/full", "id:1")
	for _, want := range receipts {
		if f := sub.Expect(stomp.MESSAGE); string(f.Body) != want {
			t.Fatalf("after the restart: received %.20q, want %.20q", f.Body, want)
		}
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// addCheapUser adds ada to a new store in dataDir with a bcrypt hash of
// the least cost, so that the many logins of the test take little time
// even under the race detector.
func addCheapUser(t *testing.T, dataDir string) *testUser {
	t.Helper()
	ada := &testUser{email: "ada@example.com", password: "ada password"}
	hash, err := bcrypt.GenerateFromPassword([]byte(ada.password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openStore(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddUser(persist.User{Email: ada.email, Roles: []string{"user"}, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return ada
}

// TestDiskFullShort is one round of TestDiskFull (build tag faults),
// without user add, for every run.
func TestDiskFullShort(t *testing.T) {
	runDiskFull(t, 1, false)
}
