package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Storm bounds: killStormWorkers clients at once, each doing at most
// killStormLogins logins a round, with up to killStormChain refreshes after
// each; the kill comes at a random moment within killStormKillWithin.
const (
	killStormWorkers    = 8
	killStormLogins     = 6
	killStormChain      = 4
	killStormKillWithin = 1500 * time.Millisecond
	killStormBusyWait   = 50 * time.Millisecond
)

// killStormSeedEnv, when set, replays the choices of that seed: chain
// lengths, logouts and kill delays (not the timing of the machine).
const killStormSeedEnv = "STOMPD_KILLSTORM_SEED"

// stormClient returns the HTTP client of storm client n: it connects from
// its own loopback address, 127.0.0.(n+2), since stompd shares the
// password checks out by address, and a request cut off by the kill fails
// rather than hangs.
func stormClient(n int) *http.Client {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n+2))}
	dialer := &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
}

// outcome is what a client learnt of one refresh token.
type outcome int

const (
	handedOut outcome = iota // received in a 200 answer, never presented
	rotated                  // presented to /auth/refresh and answered 200
	loggedOut                // its login was logged out and answered 204
	cutOff                   // presented, but the answer was cut off by the kill
)

// stormCounts are the answers of one round: those the clients got during
// the storm, and those the restarted server gave to the checks.
type stormCounts struct {
	logins, refreshes, logouts, unknown int // during the storm
	busy                                int // logins answered 429, retried
	checked                             int // tokens checked after the restart
}

func (c *stormCounts) add(o stormCounts) {
	c.logins += o.logins
	c.refreshes += o.refreshes
	c.logouts += o.logouts
	c.unknown += o.unknown
	c.busy += o.busy
	c.checked += o.checked
}

// ledger records every answer the clients of one round got.
type ledger struct {
	t          *testing.T
	loggedIn   chan struct{} // closed at the first login answered 200
	mu         sync.Mutex
	refresh    map[string]outcome
	deadAccess []string // access tokens of logins whose logout answered 204
	liveAccess string   // an access token of a login the storm keeps
	counts     stormCounts
}

// stormPost posts in as JSON to url with hc, with a bearer token unless it
// is empty, and decodes a 200 answer into out; it returns the status, or 0
// when the answer was cut off.
func stormPost(hc *http.Client, url string, in, out any, bearer string) int {
	b, _ := json.Marshal(in)
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	if err != nil {
		return 0
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && out != nil && json.NewDecoder(resp.Body).Decode(out) != nil {
		return 0
	}
	return resp.StatusCode
}

// note records, under the lock, one answer: status 0 counts as unknown and
// marks the presented token cut off, a status other than want fails the
// test, and want runs record. It reports whether the client may go on.
func (l *ledger) note(what string, status, want int, presented string, record func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch status {
	case want:
		record()
		return true
	case 0:
		l.counts.unknown++
		if presented != "" {
			l.refresh[presented] = cutOff
		}
	default:
		l.t.Errorf("%s during the storm: %d, want %d", what, status, want)
	}
	return false
}

// login logs u in, trying again after a while when all password checks
// are busy (429 login_busy, which hands nothing out).
func (l *ledger) login(hc *http.Client, url string, u *testUser) (tokens, bool) {
	var tok tokens
	creds := map[string]string{"email": u.email, "password": u.password}
	status := stormPost(hc, url+"/auth/login", creds, &tok, "")
	for status == http.StatusTooManyRequests {
		l.mu.Lock()
		l.counts.busy++
		l.mu.Unlock()
		time.Sleep(killStormBusyWait)
		status = stormPost(hc, url+"/auth/login", creds, &tok, "")
	}
	return tok, l.note("login", status, 200, "", func() {
		if l.counts.logins == 0 {
			close(l.loggedIn)
		}
		l.counts.logins++
		l.refresh[tok.Refresh] = handedOut
	})
}

// rotate presents old's refresh token to /auth/refresh.
func (l *ledger) rotate(hc *http.Client, url string, old tokens) (tokens, bool) {
	var tok tokens
	status := stormPost(hc, url+"/auth/refresh", map[string]string{"refresh_token": old.Refresh}, &tok, "")
	return tok, l.note("refresh", status, 200, old.Refresh, func() {
		l.counts.refreshes++
		l.refresh[old.Refresh] = rotated
		l.refresh[tok.Refresh] = handedOut
	})
}

// logout ends the login of tok.
func (l *ledger) logout(hc *http.Client, url string, tok tokens) bool {
	status := stormPost(hc, url+"/auth/logout", map[string]string{"refresh_token": tok.Refresh}, nil, tok.Access)
	return l.note("logout", status, 204, tok.Refresh, func() {
		l.counts.logouts++
		l.refresh[tok.Refresh] = loggedOut
		l.deadAccess = append(l.deadAccess, tok.Access)
	})
}

// client logs in, refreshes a chain of random length and sometimes logs
// out, killStormLogins times or until the server stops answering.
func (l *ledger) client(hc *http.Client, url string, u *testUser, rng *rand.Rand) {
	for range killStormLogins {
		tok, ok := l.login(hc, url, u)
		for n := rng.IntN(killStormChain + 1); ok && n > 0; n-- {
			tok, ok = l.rotate(hc, url, tok)
		}
		switch {
		case ok && rng.IntN(3) == 0:
			ok = l.logout(hc, url, tok)
		case ok:
			l.keep(tok)
		}
		if !ok {
			return
		}
	}
}

// keep records the access token of a login the storm will not log out.
func (l *ledger) keep(tok tokens) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.liveAccess = tok.Access
}

// storm runs the clients against c, kills c with SIGKILL at a random
// moment within killStormKillWithin of the first login, so that no round
// ends before the storm began, and returns once the clients stopped.
func (l *ledger) storm(c *child, u *testUser, rng *rand.Rand) {
	var wg sync.WaitGroup
	for n := range killStormWorkers {
		crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() { l.client(stormClient(n), c.url, u, crng) })
	}
	delay := time.Duration(rng.Int64N(int64(killStormKillWithin)))
	select {
	case <-l.loggedIn:
	case <-time.After(childStart):
		l.t.Error("no login answered 200 in the storm")
	}
	time.Sleep(delay)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		l.t.Fatal(err)
	}
	c.cmd.Wait()
	wg.Wait()
}

// refreshStatus presents refresh to the server at url, which must answer.
func refreshStatus(t *testing.T, url, refresh string) int {
	t.Helper()
	status := stormPost(http.DefaultClient, url+"/auth/refresh", map[string]string{"refresh_token": refresh}, nil, "")
	if status == 0 {
		t.Fatal("the restarted server did not answer a refresh")
	}
	return status
}

// check holds the ledger against the restarted server at url: a handed-out
// token refreshes once and then is refused, a cut-off one refreshes at most
// once, rotated and logged-out ones are refused, and so are the access
// tokens of logged-out logins. Handed-out tokens go first, as presenting a
// rotated token revokes its whole family.
func (l *ledger) check(url string) {
	t := l.t
	l.checkLiveAccess(url)
	for _, want := range []outcome{handedOut, cutOff, rotated, loggedOut} {
		for tok, o := range l.refresh {
			if o != want {
				continue
			}
			l.counts.checked++
			first := refreshStatus(t, url, tok)
			switch {
			case o == handedOut && first != 200:
				t.Errorf("a handed-out refresh token: %d after the restart, want 200", first)
			case (o == rotated || o == loggedOut) && first != 401:
				t.Errorf("a refresh token that was %s: %d after the restart, want 401", o, first)
			case first == 200 && refreshStatus(t, url, tok) != 401:
				t.Errorf("a %s refresh token refreshed twice after the restart", o)
			}
		}
	}
	for _, access := range l.deadAccess {
		if status := stormPost(http.DefaultClient, url+"/auth/ticket", nil, nil, access); status != 401 {
			t.Errorf("the access token of a logged-out login: ticket %d after the restart, want 401", status)
		}
	}
}

// checkLiveAccess checks that the access token of a kept login still gets
// a ticket after the restart, so that the refusals of check are not those
// of a server that lost its signing keys. It runs before check presents
// any refresh token twice, which would end that login.
func (l *ledger) checkLiveAccess(url string) {
	if l.liveAccess == "" {
		return
	}
	if status := stormPost(http.DefaultClient, url+"/auth/ticket", nil, nil, l.liveAccess); status != 200 {
		l.t.Errorf("the access token of a live login: ticket %d after the restart, want 200", status)
	}
}

func (o outcome) String() string {
	return [...]string{"handed out", "rotated", "logged out", "cut off"}[o]
}

// killStormSeed is the seed of killStormSeedEnv, or else a fresh one.
func killStormSeed(t *testing.T) uint64 {
	if s, ok := os.LookupEnv(killStormSeedEnv); ok {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", killStormSeedEnv, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// runKillStorm runs rounds of a login/refresh/logout storm, each ended by
// SIGKILL of the server and checked after its restart on the same data
// dir; at the end every refresh token ever handed out must be refused.
func runKillStorm(t *testing.T, rounds int) {
	seed := killStormSeed(t)
	t.Logf("seed %d (%s=%d replays its choices)", seed, killStormSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir)
	var total stormCounts
	var spent []string
	for round := 1; round <= rounds; round++ {
		l := &ledger{t: t, loggedIn: make(chan struct{}), refresh: map[string]outcome{}}
		l.storm(c, ada, rng)
		c = startChild(t, dir)
		l.check(c.url)
		t.Logf("round %2d: %3d logins (%d busy), %3d refreshes, %2d logouts, %d unknown; %3d tokens checked",
			round, l.counts.logins, l.counts.busy, l.counts.refreshes, l.counts.logouts, l.counts.unknown, l.counts.checked)
		total.add(l.counts)
		for tok := range l.refresh {
			spent = append(spent, tok)
		}
	}
	for _, tok := range spent {
		if status := refreshStatus(t, c.url, tok); status != 401 {
			t.Errorf("a refresh token already checked: %d at the end, want 401", status)
		}
	}
	t.Logf("total over %d rounds: %d logins (%d busy), %d refreshes, %d logouts, %d unknown; %d tokens checked, all %d checked again at the end",
		rounds, total.logins, total.busy, total.refreshes, total.logouts, total.unknown, total.checked, len(spent))
}

// TestKillDuringAuthStormShort is two rounds of TestKillDuringAuthStorm
// (build tag faults), for every run.
func TestKillDuringAuthStormShort(t *testing.T) {
	runKillStorm(t, 2)
}
