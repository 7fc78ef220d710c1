package auth

import (
	"strings"
	"sync"
	"time"
)

// Login throttling defaults (SPEC section 3).
const (
	DefaultAccountFailures = 5
	DefaultAddressFailures = 30
	DefaultThrottleWindow  = 15 * time.Minute
	// maxThrottleKeys bounds each table (accounts, addresses). When a table
	// is full of live entries, new keys are not tracked until some expire;
	// the other table still applies.
	maxThrottleKeys = 100_000
)

// throttle counts failed logins per account and per client address. A key
// with limit failures within window is locked for window from its last
// counted failure, refusing even the right password; a success clears the
// account's count (never the address's).
type throttle struct {
	mu        sync.Mutex
	accounts  failures
	addresses failures
	window    time.Duration
}

// failures maps a key to its failure times within the window, oldest
// first, at most limit of them.
type failures struct {
	limit int
	m     map[string][]time.Time
}

func newThrottle(accountLimit, addressLimit int, window time.Duration) *throttle {
	return &throttle{
		accounts:  failures{limit: accountLimit, m: make(map[string][]time.Time)},
		addresses: failures{limit: addressLimit, m: make(map[string][]time.Time)},
		window:    window,
	}
}

func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// wait returns how long the account or address must still wait, or zero.
func (t *throttle) wait(email, addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.accounts.wait(accountKey(email), now, t.window), t.addresses.wait(addr, now, t.window))
}

func (t *throttle) fail(email, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accounts.add(accountKey(email), now, t.window)
	t.addresses.add(addr, now, t.window)
}

func (t *throttle) succeed(email string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts.m, accountKey(email))
}

func (f *failures) wait(key string, now time.Time, window time.Duration) time.Duration {
	ts := f.m[key]
	if len(ts) < f.limit {
		return 0
	}
	return max(ts[len(ts)-1].Add(window).Sub(now), 0)
}

// add records a failure at now, forgetting those older than window.
func (f *failures) add(key string, now time.Time, window time.Duration) {
	ts, ok := f.m[key]
	if !ok && len(f.m) >= maxThrottleKeys {
		f.sweep(now, window)
		if len(f.m) >= maxThrottleKeys {
			return
		}
	}
	ts = append(live(ts, now, window), now)
	if len(ts) > f.limit {
		ts = ts[len(ts)-f.limit:]
	}
	f.m[key] = ts
}

func (f *failures) sweep(now time.Time, window time.Duration) {
	for k, ts := range f.m {
		if len(live(ts, now, window)) == 0 {
			delete(f.m, k)
		}
	}
}

// live returns the times of ts after now-window.
func live(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	cut := now.Add(-window)
	for len(ts) > 0 && !ts[0].After(cut) {
		ts = ts[1:]
	}
	return ts
}
