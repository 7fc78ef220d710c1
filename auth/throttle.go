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

// throttle is the LoginThrottle of one process. Accounts and addresses
// are kept as SHA-256 hashes, so a key costs the same whatever a client
// sends; failure times are whole seconds since the throttle was made.
type throttle struct {
	mu        sync.Mutex
	pairs     table[pairKey]
	addresses table[key]
	accounts  table[key]
	epoch     time.Time
}

// stamp is a time in whole seconds since the throttle's epoch.
type stamp uint32

// key is the SHA-256 of a normalised email or of a client address.
type key = [32]byte

type pairKey struct{ account, address key }

// table maps a key to the times of its failures within the window, in no
// particular order.
type table[K comparable] struct {
	m map[K][]stamp
	// nextSweep is when the oldest entry can first be wholly expired; a
	// full table is not swept again before then.
	nextSweep stamp
}

// The tables of the in-memory throttle that counted an attempt
// (Attempt.counted).
const (
	inPair uint8 = 1 << iota
	inAddress
	inAccount
)

func newThrottle(now time.Time) *throttle {
	return &throttle{
		pairs:     table[pairKey]{m: make(map[pairKey][]stamp)},
		addresses: table[key]{m: make(map[key][]stamp)},
		accounts:  table[key]{m: make(map[key][]stamp)},
		epoch:     now,
	}
}

// AccountKey is the key a LoginThrottle counts the failures of an email
// under: the SHA-256 of the email, trimmed and lower-cased.
func AccountKey(email string) [32]byte {
	return sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
}

func addressKey(addr string) key { return sha256.Sum256([]byte(addr)) }

func (t *throttle) stamp(now time.Time) stamp {
	return stamp(max(now.Sub(t.epoch), 0) / time.Second)
}

func windowStamp(l ThrottleLimits) stamp {
	return max(stamp(l.Window/time.Second), 1)
}

// Reserve counts an attempt to log in to account from address, unless one
// of its keys has reached its limit.
func (t *throttle) Reserve(account, address [32]byte, l ThrottleLimits, now time.Time) (Attempt, time.Duration, error) {
	a := Attempt{Account: account, Address: address, At: now}
	p := pairKey{account, address}
	w := windowStamp(l)
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.stamp(now)
	wait := max(t.pairs.wait(p, l.Pair, at, w),
		t.addresses.wait(address, l.Address, at, w),
		t.accounts.wait(account, l.Account, at, w))
	if wait > 0 {
		return Attempt{}, time.Duration(wait) * time.Second, nil
	}
	a.counted |= t.pairs.add(p, at, w, inPair)
	a.counted |= t.addresses.add(address, at, w, inAddress)
	if l.Account > 0 {
		a.counted |= t.accounts.add(account, at, w, inAccount)
	}
	return a, 0, nil
}

// Settle takes a back; when passed, its pair starts again from zero.
func (t *throttle) Settle(a Attempt, passed bool) error {
	p := pairKey{a.Account, a.Address}
	at := t.stamp(a.At)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case passed:
		delete(t.pairs.m, p)
	case a.counted&inPair != 0:
		t.pairs.remove(p, at)
	}
	if a.counted&inAddress != 0 {
		t.addresses.remove(a.Address, at)
	}
	if a.counted&inAccount != 0 {
		t.accounts.remove(a.Account, at)
	}
	return nil
}

// Unlock forgets the failures of the account from every address.
func (t *throttle) Unlock(k [32]byte, l ThrottleLimits, now time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, w := t.stamp(now), windowStamp(l)
	n, inPairs := len(t.accounts.live(k, at, w)), 0
	delete(t.accounts.m, k)
	for p := range t.pairs.m {
		if p.account == k {
			inPairs += len(t.pairs.live(p, at, w))
			delete(t.pairs.m, p)
		}
	}
	return max(n, inPairs), nil
}

// wait returns how long k must wait, in seconds: zero while it has fewer
// than limit failures within the window or limit is 0 (none), else until
// the oldest leaves it.
func (tb *table[K]) wait(k K, limit int, now, window stamp) stamp {
	ts := tb.live(k, now, window)
	if limit <= 0 || len(ts) < limit {
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

// add records a failure of k at now and returns bit. It returns zero when
// k is new and the table is full of live entries, and then records
// nothing.
func (tb *table[K]) add(k K, now, window stamp, bit uint8) uint8 {
	ts, ok := tb.m[k]
	if !ok && len(tb.m) >= maxThrottleKeys {
		if now < tb.nextSweep {
			return 0
		}
		tb.sweep(now, window)
		if len(tb.m) >= maxThrottleKeys {
			return 0
		}
	}
	tb.m[k] = append(ts, now)
	return bit
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
