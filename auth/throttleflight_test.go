package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// concurrentLogins sends tries at once and returns their outcomes; once
// held of them have reached g's password check, g is opened.
func (fx *fixture) concurrentLogins(t *testing.T, g *gate, held int, tries []loginTry) []outcome {
	t.Helper()
	out := make([]outcome, len(tries))
	var wg sync.WaitGroup
	for i, try := range tries {
		wg.Go(func() { out[i] = fx.tryLogin(t, try.email, try.password, "X-Client", try.addr) })
	}
	deadline := time.After(time.Minute)
	for range held {
		select {
		case <-g.entered:
		case <-deadline:
			t.Error("the logins did not reach the password check within a minute")
		}
	}
	g.release()
	wg.Wait()
	return out
}

// aliceTries returns n logins for alice from 10.0.0.66, the ith with
// password(i).
func aliceTries(n int, password func(i int) string) []loginTry {
	tries := make([]loginTry, n)
	for i := range tries {
		tries[i] = loginTry{"alice@example.com", password(i), "10.0.0.66"}
	}
	return tries
}

// TestConcurrentRightLoginsAllPass sends 12 logins with the right password
// for one account from one address at once, holding the password checks
// until as many as the pair may fail are in flight: none of them is refused,
// for none of them failed.
func TestConcurrentRightLoginsAllPass(t *testing.T) {
	g := newGate()
	fx := gatedFixture(t, g)
	tries := aliceTries(12, func(int) string { return password })
	for i, o := range fx.concurrentLogins(t, g, DefaultAccountAddressFailures, tries) {
		if o.status != 200 {
			t.Errorf("right login %d: %+v, want 200", i, o)
		}
	}
}

// TestConcurrentWrongLoginsGetTheRestOfTheLimit fails three times for
// alice from one address, five minutes later sends 12 wrong passwords for
// her from there at once: exactly two more are checked, and the others are
// refused with the wait until the first failure leaves the window.
func TestConcurrentWrongLoginsGetTheRestOfTheLimit(t *testing.T) {
	g := openGate()
	fx := gatedFixture(t, g)
	for range 3 {
		fx.expectLogin(t, "alice@example.com", "wrong", "10.0.0.66", badCredentials)
	}
	fx.clock.Advance(5 * time.Minute)
	tries := aliceTries(12, func(i int) string { return fmt.Sprint("wrong", i) })
	n401 := 0
	for i, o := range fx.concurrentLogins(t, g, 0, tries) {
		switch {
		case o.status == 401:
			n401++
		case o.status != 429 || o.name != "too_many_attempts" || o.retryAfter != "600":
			t.Errorf("wrong login %d: %+v, want 401 or 429 too_many_attempts after 600 s", i, o)
		}
	}
	if n := g.checks.Load(); n != 5 || n401 != 2 {
		t.Errorf("%d passwords checked in all, %d of the burst answered 401; want 5 and 2", n, n401)
	}
	fx.expectLogin(t, "alice@example.com", password, "10.0.0.66", outcome{status: 429, name: "too_many_attempts", retryAfter: "600"})
}
