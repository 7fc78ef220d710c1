package auth

import (
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"time"
)

// Login throttling defaults: failed logins allowed within the window per
// account from one client address, per client address, and per account
// from all addresses together.
const (
	DefaultAccountAddressFailures = 5
	DefaultAddressFailures        = 30
	DefaultAccountFailures        = 50
	DefaultThrottleWindow         = 15 * time.Minute
	// maxThrottleKeys bounds each of the three tables. When a table is full
	// of live entries, new keys are not tracked in it until some expire;
	// the other tables still apply.
	maxThrottleKeys = 100_000
)

// throttle counts failed logins per (account, address) pair, per address
// and per account. A key with its limit of failures within the window is
// refused, even the right password, until enough of them are older than
// the window. Accounts and addresses are kept as SHA-256 hashes, so a key
// costs the same whatever a client sends; failure times are whole seconds.
//
// An attempt is counted before its password is checked (reserve) and
// settled after: a wrong password leaves it counted, a right one takes it
// back and clears its pair's count, so that concurrent attempts cannot
// all pass the check before any of them is counted.
type throttle struct {
	mu        sync.Mutex
	pairs     table[pairKey]
	addresses table[key]
	accounts  table[key]
	epoch     time.Time
	window    stamp
}

// stamp is a time in whole seconds since the throttle's epoch.
type stamp uint32

// key is the SHA-256 of a normalised email or of a client address.
type key [32]byte

type pairKey struct{ account, address key }

// table maps a key to the times of its failures within the window, in no
// particular order, at most limit of them.
type table[K comparable] struct {
	limit int
	m     map[K][]stamp
	// nextSweep is when the oldest entry can first be wholly expired; a
	// full table is not swept again before then.
	nextSweep stamp
}

// attempt is a reserved login attempt: where it was counted, and when.
type attempt struct {
	pair                         pairKey
	at                           stamp
	inPair, inAddress, inAccount bool
}

func newThrottle(pair, address, account int, window time.Duration, now time.Time) *throttle {
	return &throttle{
		pairs:     table[pairKey]{limit: pair, m: make(map[pairKey][]stamp)},
		addresses: table[key]{limit: address, m: make(map[key][]stamp)},
		accounts:  table[key]{limit: account, m: make(map[key][]stamp)},
		epoch:     now,
		window:    max(stamp(window/time.Second), 1),
	}
}

func accountKey(email string) key {
	return sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
}

func addressKey(addr string) key { return sha256.Sum256([]byte(addr)) }

func (t *throttle) stamp(now time.Time) stamp {
	return stamp(max(now.Sub(t.epoch), 0) / time.Second)
}

// reserve counts an attempt to log in to email from addr as a failure of
// its pair, address and account, and returns it. When one of them has
// already reached its limit, nothing is counted and reserve returns how
// long the client must wait instead.
func (t *throttle) reserve(email, addr string, now time.Time) (attempt, time.Duration) {
	a := attempt{pair: pairKey{accountKey(email), addressKey(addr)}}
	t.mu.Lock()
	defer t.mu.Unlock()
	a.at = t.stamp(now)
	wait := max(t.pairs.wait(a.pair, a.at, t.window),
		t.addresses.wait(a.pair.address, a.at, t.window),
		t.accounts.wait(a.pair.account, a.at, t.window))
	if wait > 0 {
		return attempt{}, time.Duration(wait) * time.Second
	}
	a.inPair = t.pairs.add(a.pair, a.at, t.window)
	a.inAddress = t.addresses.add(a.pair.address, a.at, t.window)
	a.inAccount = t.accounts.add(a.pair.account, a.at, t.window)
	return a, 0
}

// succeed settles an attempt whose password was right: its pair starts
// again from zero, and it no longer counts for its address and account.
func (t *throttle) succeed(a attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pairs.m, a.pair)
	t.takeBack(a)
}

// cancel takes back an attempt whose password was never checked.
func (t *throttle) cancel(a attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.inPair {
		t.pairs.remove(a.pair, a.at)
	}
	t.takeBack(a)
}

func (t *throttle) takeBack(a attempt) {
	if a.inAddress {
		t.addresses.remove(a.pair.address, a.at)
	}
	if a.inAccount {
		t.accounts.remove(a.pair.account, a.at)
	}
}

// unlock forgets the failures of the account from every address, and
// returns how many there were within the window.
func (t *throttle) unlock(email string, now time.Time) int {
	k := accountKey(email)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.accounts.live(k, t.stamp(now), t.window))
	delete(t.accounts.m, k)
	for p := range t.pairs.m {
		if p.account == k {
			delete(t.pairs.m, p)
		}
	}
	return n
}

// wait returns how long k must wait, in seconds: zero while it has fewer
// than limit failures within the window, else until the oldest leaves it.
func (tb *table[K]) wait(k K, now, window stamp) stamp {
	ts := tb.live(k, now, window)
	if len(ts) < tb.limit {
		return 0
	}
	return slices.Min(ts) + window - now
}

// live drops k's failures older than the window and returns the others.
func (tb *table[K]) live(k K, now, window stamp) []stamp {
	ts, ok := tb.m[k]
	if !ok {
		return nil
	}
	ts = slices.DeleteFunc(ts, func(at stamp) bool { return at+window <= now })
	if len(ts) == 0 {
		delete(tb.m, k)
		return nil
	}
	tb.m[k] = ts
	return ts
}

// add records a failure of k at now. It reports false when k is new and
// the table is full of live entries, and then records nothing.
func (tb *table[K]) add(k K, now, window stamp) bool {
	ts, ok := tb.m[k]
	if !ok && len(tb.m) >= maxThrottleKeys {
		if now < tb.nextSweep {
			return false
		}
		tb.sweep(now, window)
		if len(tb.m) >= maxThrottleKeys {
			return false
		}
	}
	tb.m[k] = append(ts, now)
	return true
}

// remove takes back one failure of k recorded at at.
func (tb *table[K]) remove(k K, at stamp) {
	ts := tb.m[k]
	i := slices.Index(ts, at)
	switch {
	case i < 0:
	case len(ts) == 1:
		delete(tb.m, k)
	default:
		tb.m[k] = slices.Delete(ts, i, i+1)
	}
}

// sweep deletes the entries whose failures are all older than the window,
// and notes when the next of the others will be.
func (tb *table[K]) sweep(now, window stamp) {
	tb.nextSweep = ^stamp(0)
	for k := range tb.m {
		if ts := tb.live(k, now, window); len(ts) > 0 {
			tb.nextSweep = min(tb.nextSweep, slices.Max(ts)+window)
		}
	}
}
