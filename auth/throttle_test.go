package auth

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// gate holds every password check until it is opened, and counts them.
type gate struct {
	checks  atomic.Int32
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1000), open: make(chan struct{})}
}

func (g *gate) check(hash, password []byte) error {
	g.checks.Add(1)
	g.entered <- struct{}{}
	<-g.open
	return bcrypt.CompareHashAndPassword(hash, password)
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// gatedFixture is a fixture whose password checks pass through g, with the
// client address taken from the X-Client header. Password checks are not
// bounded unless edit says so.
func gatedFixture(t *testing.T, g *gate, edit ...func(*Options)) *fixture {
	fx := newFixture(t, func(o *Options) {
		o.checkPassword = g.check
		o.MaxPasswordChecks = 1000
		for _, e := range edit {
			e(o)
		}
		o.ClientAddress = func(r *http.Request) string { return r.Header.Get("X-Client") }
	})
	t.Cleanup(g.release)
	return fx
}

// loginTry is one login request: an email, a password, a client address.
type loginTry struct{ email, password, addr string }

// burst is a set of logins sent at once.
type burst struct {
	statuses []int
	answered chan struct{}
	wg       sync.WaitGroup
}

// startBurst sends the logins at once and returns when each of them has
// been answered or is held at g's password check, so that all of them met
// the throttle before any check ended.
func (fx *fixture) startBurst(t *testing.T, g *gate, tries []loginTry) *burst {
	t.Helper()
	b := &burst{statuses: make([]int, len(tries)), answered: make(chan struct{}, len(tries))}
	for i, try := range tries {
		b.wg.Go(func() {
			b.statuses[i] = fx.post(try)
			b.answered <- struct{}{}
		})
	}
	deadline := time.After(time.Minute)
	for range tries {
		select {
		case <-b.answered:
		case <-g.entered:
		case <-deadline:
			g.release()
			b.wg.Wait()
			t.Fatal("the burst neither answered nor reached the password check within a minute")
		}
	}
	return b
}

// finish opens the gate and returns every login's status.
func (b *burst) finish(g *gate) []int {
	g.release()
	b.wg.Wait()
	return b.statuses
}

// post sends one login and returns its status, 0 if it failed.
func (fx *fixture) post(try loginTry) int {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, try.email, try.password)
	req, err := http.NewRequest("POST", fx.srv.URL+"/auth/login", strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("X-Client", try.addr)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func countStatus(statuses []int, want int) int {
	n := 0
	for _, s := range statuses {
		if s == want {
			n++
		}
	}
	return n
}

// TestLoginBurstFromOneAddressChecksAtMost30 sends 80 wrong logins for
// different accounts from one address at once: only as many passwords as
// the address may fail are checked.
func TestLoginBurstFromOneAddressChecksAtMost30(t *testing.T) {
	g := newGate()
	fx := gatedFixture(t, g)
	tries := make([]loginTry, 80)
	for i := range tries {
		tries[i] = loginTry{fmt.Sprintf("guess%d@example.com", i), "wrong", "10.0.0.66"}
	}
	statuses := fx.startBurst(t, g, tries).finish(g)
	if n := g.checks.Load(); n > DefaultAddressFailures {
		t.Errorf("%d of 80 concurrent wrong logins from one address had their password checked, limit %d", n, DefaultAddressFailures)
	}
	if n401, n429 := countStatus(statuses, 401), countStatus(statuses, 429); n401 != DefaultAddressFailures || n429 != 80-DefaultAddressFailures {
		t.Errorf("answers: %d × 401, %d × 429; want %d and %d", n401, n429, DefaultAddressFailures, 80-DefaultAddressFailures)
	}
}

// TestLoginBurstForOneAccountChecksAtMost5 sends 24 wrong logins for one
// account from one address at once and, while their checks are held, the
// right password: at most 5 passwords are checked, and the right one is
// refused because the account is locked for that address.
func TestLoginBurstForOneAccountChecksAtMost5(t *testing.T) {
	g := newGate()
	fx := gatedFixture(t, g)
	wrong := make([]loginTry, 24)
	for i := range wrong {
		wrong[i] = loginTry{"alice@example.com", fmt.Sprint("wrong", i), "10.0.0.66"}
	}
	b := fx.startBurst(t, g, wrong)
	right := fx.startBurst(t, g, []loginTry{{"alice@example.com", password, "10.0.0.66"}})
	statuses := b.finish(g)
	rightStatus := right.finish(g)[0]
	if n := g.checks.Load(); n > DefaultAccountAddressFailures {
		t.Errorf("%d of 25 concurrent logins for one account had their password checked, limit %d", n, DefaultAccountAddressFailures)
	}
	if rightStatus != 429 {
		t.Errorf("the right password during the burst: status %d, want 429", rightStatus)
	}
	if n := countStatus(statuses, 401); n != DefaultAccountAddressFailures {
		t.Errorf("%d wrong passwords answered 401, want %d", n, DefaultAccountAddressFailures)
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.0.66", outcome{status: 429, name: "too_many_attempts", retryAfter: "900"})
}

// TestOneAddressCannotLockOthersOut fails five times for alice from one
// address: alice is refused there, and logs in from anywhere else.
func TestOneAddressCannotLockOthersOut(t *testing.T) {
	fx := gatedFixture(t, openGate())
	for range DefaultAccountAddressFailures {
		fx.tryLogin(t, "alice@example.com", "wrong", "X-Client", "10.0.0.66")
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.0.66", outcome{status: 429, name: "too_many_attempts", retryAfter: "900"})
	fx.expectLogin(t, "alice@example.com", password, "10.0.0.1", outcome{status: 200})
}

// TestAccountLockedByFailuresFromAllAddresses spreads failures for alice
// over many addresses: the 50th locks her account everywhere until the
// window passes; a success before it does not clear the others' counts.
func TestAccountLockedByFailuresFromAllAddresses(t *testing.T) {
	fx := gatedFixture(t, openGate())
	for i := range DefaultAccountFailures - 1 {
		fx.tryLogin(t, "alice@example.com", "wrong", "X-Client", fmt.Sprintf("10.0.1.%d", i/DefaultAccountAddressFailures))
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.2.1", outcome{status: 200})
	fx.expectLogin(t, "alice@example.com", "wrong", "10.0.2.2", badCredentials)
	fx.expectLogin(t, "alice@example.com", password, "10.0.2.1", outcome{status: 429, name: "too_many_attempts", retryAfter: "900"})
	fx.expectLogin(t, "bob@example.com", password, "10.0.2.2", outcome{status: 200})
	fx.clock.Advance(DefaultThrottleWindow)
	fx.expectLogin(t, "alice@example.com", password, "10.0.2.1", outcome{status: 200})
}

// TestAddressLockedAfter30Failures fails 30 times from one address for as
// many accounts: that address is refused, another is not.
func TestAddressLockedAfter30Failures(t *testing.T) {
	fx := gatedFixture(t, openGate())
	for i := range DefaultAddressFailures {
		fx.tryLogin(t, fmt.Sprintf("guess%d@example.com", i), "wrong", "X-Client", "10.0.0.66")
	}
	fx.expectLogin(t, "bob@example.com", password, "10.0.0.66", outcome{status: 429, name: "too_many_attempts", retryAfter: "900"})
	fx.expectLogin(t, "bob@example.com", password, "10.0.0.1", outcome{status: 200})
}

// expectLogin tries a login from addr and checks its outcome.
func (fx *fixture) expectLogin(t *testing.T, email, pw, addr string, want outcome) {
	t.Helper()
	want.check(t, fx.tryLogin(t, email, pw, "X-Client", addr))
}

// openGate is a gate that holds nothing.
func openGate() *gate {
	g := newGate()
	g.entered = make(chan struct{}, 10_000)
	g.release()
	return g
}

// TestPasswordChecksBounded holds two password checks with
// MaxPasswordChecks 2: a third login waits, is answered 429 login_busy, and
// does not count as a failure.
func TestPasswordChecksBounded(t *testing.T) {
	g := newGate()
	fx := gatedFixture(t, g, func(o *Options) { o.MaxPasswordChecks = 2 })
	held := fx.startBurst(t, g, []loginTry{{"alice@example.com", "wrong", "10.0.0.1"}, {"bob@example.com", "wrong", "10.0.0.2"}})
	fx.expectLogin(t, "root@example.com", password, "10.0.0.3", outcome{status: 429, name: "login_busy", retryAfter: "1"})
	if statuses := held.finish(g); countStatus(statuses, 401) != 2 {
		t.Errorf("held logins answered %v, want 401s", statuses)
	}
	if n := g.checks.Load(); n != 2 {
		t.Errorf("%d password checks, want 2", n)
	}
	if n := fx.failures("login", "busy"); n != 1 {
		t.Errorf("stompd_auth_failures_total{stage=login,reason=busy} = %v, want 1", n)
	}
	for range DefaultAccountAddressFailures {
		fx.expectLogin(t, "root@example.com", "wrong", "10.0.0.3", badCredentials)
	}
	fx.expectLogin(t, "root@example.com", password, "10.0.0.3", outcome{status: 429, name: "too_many_attempts"})
}

// TestUnlockClearsAnAccountEverywhere locks alice from every address, and
// bob from one: unlocking alice lets her in again from anywhere and leaves
// bob locked.
func TestUnlockClearsAnAccountEverywhere(t *testing.T) {
	fx := gatedFixture(t, openGate())
	for i := range DefaultAccountFailures {
		fx.tryLogin(t, "alice@example.com", "wrong", "X-Client", fmt.Sprintf("10.0.1.%d", i/DefaultAccountAddressFailures))
	}
	for range DefaultAccountAddressFailures {
		fx.tryLogin(t, "bob@example.com", "wrong", "X-Client", "10.0.1.0")
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.2.1", outcome{status: 429, name: "too_many_attempts"})
	if n, _ := fx.svc.Unlock(" Alice@Example.com"); n != DefaultAccountFailures {
		t.Errorf("Unlock forgot %d failures, want %d", n, DefaultAccountFailures)
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.1.0", outcome{status: 200})
	fx.expectLogin(t, "bob@example.com", password, "10.0.1.0", outcome{status: 429, name: "too_many_attempts"})
	if n, _ := fx.svc.Unlock("nobody@example.com"); n != 0 {
		t.Errorf("Unlock of an account without failures forgot %d", n)
	}
}

// TestThrottleMemoryBounded fails logins for three times as many accounts,
// from as many addresses, as a table holds: the heap grows no further once
// the tables are full, and new keys are tracked again once the window has
// passed.
func TestThrottleMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the throttle's tables")
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	th := newThrottle(now)
	l := ThrottleLimits{DefaultAccountAddressFailures, DefaultAddressFailures, DefaultAccountFailures, DefaultThrottleWindow}
	fail := func(from, to int) {
		for i := from; i < to; i++ {
			a, _, _ := th.Reserve(AccountKey(fmt.Sprintf("user%d@example.com", i)), addressKey(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)), l, now)
			th.Settle(a, Failed)
		}
	}
	base := heapInUse()
	fail(0, maxThrottleKeys)
	full := heapInUse() - base
	fail(maxThrottleKeys, 3*maxThrottleKeys)
	after := heapInUse() - base
	t.Logf("heap: %d bytes per key of the three tables when full; %d bytes after three times as many keys", full/maxThrottleKeys, after/maxThrottleKeys)
	if after > full+full/10 {
		t.Errorf("heap grew from %d to %d bytes while the tables were full", full, after)
	}
	if n := [3]int{len(th.pairs.m), len(th.addresses.m), len(th.accounts.m)}; n != [3]int{maxThrottleKeys, maxThrottleKeys, maxThrottleKeys} {
		t.Errorf("table sizes %v, want %d each", n, maxThrottleKeys)
	}
	a, _, _ := th.Reserve(AccountKey("late@example.com"), addressKey("10.99.0.1"), l, now.Add(DefaultThrottleWindow))
	if a.counted != inPair|inAddress|inAccount || len(th.accounts.m) != 1 {
		t.Errorf("after the window: attempt %+v, %d accounts tracked; want it tracked alone", a, len(th.accounts.m))
	}
	runtime.KeepAlive(th)
}

// heapInUse returns the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestPasswordChecksSharedAcrossAddresses holds the password checks of six
// concurrent right logins from one address, with MaxPasswordChecks 4: the
// address gets half of the checks, its other logins wait and are answered
// 429 login_busy, and a login from another address meanwhile still gets a
// check and succeeds.
func TestPasswordChecksSharedAcrossAddresses(t *testing.T) {
	g := newGate()
	fx := gatedFixture(t, g, func(o *Options) { o.MaxPasswordChecks = 4 })
	flood := make([]loginTry, 6)
	for i := range flood {
		flood[i] = loginTry{"alice@example.com", password, "10.0.0.40"}
	}
	held := fx.startBurst(t, g, flood)
	if n := g.checks.Load(); n != 2 {
		t.Errorf("one address holds %d of 4 password checks, want 2", n)
	}
	other := fx.startBurst(t, g, []loginTry{{"bob@example.com", password, "10.0.0.41"}})
	statuses := held.finish(g)
	if status := other.finish(g)[0]; status != 200 {
		t.Errorf("a login from another address while one address floods: status %d, want 200", status)
	}
	if n200, n429 := countStatus(statuses, 200), countStatus(statuses, 429); n200 != 2 || n429 != 4 {
		t.Errorf("the flooding address: %d × 200, %d × 429; want 2 and 4", n200, n429)
	}
}

// TestThrottleWithoutAccountLimit: under a client's limits (Account 0),
// 60 failures for one account from 12 addresses lock those pairs only,
// never the account, so that a 13th address is let in; Unlock forgets the
// 60 failures of its pairs and lets the locked pairs in again.
func TestThrottleWithoutAccountLimit(t *testing.T) {
	now := time.Now()
	th := newThrottle(now)
	l := ThrottleLimits{Pair: DefaultAccountAddressFailures, Address: DefaultAddressFailures, Window: DefaultThrottleWindow}
	acc := ClientAccountKey("billing")
	reserve := func(addr string) time.Duration {
		t.Helper()
		a, wait, err := th.Reserve(acc, addressKey(addr), l, now)
		if err != nil {
			t.Fatal(err)
		}
		th.Settle(a, Failed)
		return wait
	}
	for i := range 60 {
		if wait := reserve(fmt.Sprintf("10.0.0.%d", i/5)); wait != 0 {
			t.Fatalf("failure %d refused (wait %v)", i+1, wait)
		}
	}
	if reserve("10.0.0.0") == 0 {
		t.Error("a pair with 5 failures was let in")
	}
	if wait := reserve("10.0.1.1"); wait != 0 {
		t.Errorf("a new address waits %v after 60 failures from others: the account was locked", wait)
	}
	if n, err := th.Unlock(acc, l, now); err != nil || n != 61 {
		t.Errorf("Unlock: %d, %v; want the 61 failures of its pairs", n, err)
	}
	if wait := reserve("10.0.0.0"); wait != 0 {
		t.Errorf("a pair still waits %v after Unlock", wait)
	}
}
