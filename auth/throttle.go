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

// table maps a key to its failures within the window and its attempts
// in flight.
type table[K comparable] struct {
	m map[K]*entry
	// nextSweep is when the oldest entry can first be wholly expired; a
	// full table is not swept again before then.
	nextSweep stamp
}

// entry is what a table holds for a key: the times of its failures, in no
// particular order, and how many of its attempts are in flight.
type entry struct {
	failed   []stamp
	inFlight int
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
		pairs:     table[pairKey]{m: make(map[pairKey]*entry)},
		addresses: table[key]{m: make(map[key]*entry)},
		accounts:  table[key]{m: make(map[key]*entry)},
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

// Reserve notes an attempt to log in to account from address as in
// flight, unless one of its keys has reached its limit.
func (t *throttle) Reserve(account, address [32]byte, l ThrottleLimits, now time.Time) (Attempt, time.Duration, error) {
	a := Attempt{Account: account, Address: address, At: now}
	p := pairKey{account, address}
	w := windowStamp(l)
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.stamp(now)
	pw, pf := t.pairs.wait(p, l.Pair, at, w)
	aw, af := t.addresses.wait(address, l.Address, at, w)
	cw, cf := t.accounts.wait(account, l.Account, at, w)
	switch {
	case max(pw, aw, cw) > 0:
		return Attempt{}, time.Duration(max(pw, aw, cw)) * time.Second, nil
	case pf || af || cf:
		return Attempt{}, 0, ErrAttemptsInFlight
	}
	a.counted |= t.pairs.add(p, at, w, inPair)
	a.counted |= t.addresses.add(address, at, w, inAddress)
	if l.Account > 0 {
		a.counted |= t.accounts.add(account, at, w, inAccount)
	}
	return a, 0, nil
}

// Settle ends a; when it passed, its pair's failures are forgotten.
func (t *throttle) Settle(a Attempt, o Outcome) error {
	p := pairKey{a.Account, a.Address}
	at := t.stamp(a.At)
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.counted&inPair != 0 {
		t.pairs.settle(p, at, o == Failed)
	}
	if o == Passed {
		t.pairs.forget(p)
	}
	if a.counted&inAddress != 0 {
		t.addresses.settle(a.Address, at, o == Failed)
	}
	if a.counted&inAccount != 0 {
		t.accounts.settle(a.Account, at, o == Failed)
	}
	return nil
}

// Unlock forgets the failures and attempts in flight of the account from
// every address.
func (t *throttle) Unlock(k [32]byte, l ThrottleLimits, now time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, w := t.stamp(now), windowStamp(l)
	n, inPairs := t.accounts.live(k, at, w).count(), 0
	delete(t.accounts.m, k)
	for p := range t.pairs.m {
		if p.account == k {
			inPairs += t.pairs.live(p, at, w).count()
			delete(t.pairs.m, p)
		}
	}
	return max(n, inPairs), nil
}

// count returns how many failures and attempts in flight e holds; a nil e
// holds none.
func (e *entry) count() int {
	if e == nil {
		return 0
	}
	return len(e.failed) + e.inFlight
}

// wait returns how long k must wait, in seconds, and whether attempts in
// flight hold the rest of its limit. It must wait while it has limit
// failures within the window, until the oldest leaves it; attempts in
// flight hold the rest when they and the failures reach the limit. A limit
// of 0 is none.
func (tb *table[K]) wait(k K, limit int, now, window stamp) (stamp, bool) {
	e := tb.live(k, now, window)
	switch {
	case limit <= 0 || e.count() < limit:
		return 0, false
	case len(e.failed) >= limit:
		return slices.Min(e.failed) + window - now, false
	}
	return 0, true
}

// live drops k's failures older than the window and returns its entry, nil
// when nothing is left of it.
func (tb *table[K]) live(k K, now, window stamp) *entry {
	e, ok := tb.m[k]
	if !ok {
		return nil
	}
	e.failed = slices.DeleteFunc(e.failed, func(at stamp) bool { return at+window <= now })
	if e.count() == 0 {
		delete(tb.m, k)
		return nil
	}
	return e
}

// add notes an attempt of k in flight and returns bit. It returns zero
// when k is new and the table is full of live entries, and then notes
// nothing.
func (tb *table[K]) add(k K, now, window stamp, bit uint8) uint8 {
	e, ok := tb.m[k]
	if !ok {
		if len(tb.m) >= maxThrottleKeys {
			if now < tb.nextSweep {
				return 0
			}
			tb.sweep(now, window)
			if len(tb.m) >= maxThrottleKeys {
				return 0
			}
		}
		e = &entry{}
		tb.m[k] = e
	}
	e.inFlight++
	return bit
}

// settle ends an attempt of k in flight that was reserved at at: as a
// failure when failed, else leaving nothing of it.
func (tb *table[K]) settle(k K, at stamp, failed bool) {
	e, ok := tb.m[k]
	if !ok || e.inFlight == 0 {
		return // forgotten by Unlock meanwhile
	}
	e.inFlight--
	if failed {
		e.failed = append(e.failed, at)
	}
	if e.count() == 0 {
		delete(tb.m, k)
	}
}

// forget drops k's failures, keeping its attempts in flight.
func (tb *table[K]) forget(k K) {
	e, ok := tb.m[k]
	switch {
	case !ok:
	case e.inFlight == 0:
		delete(tb.m, k)
	default:
		e.failed = nil
	}
}

// sweep deletes the entries with neither failures within the window nor
// attempts in flight, and notes when the next of the others will be.
func (tb *table[K]) sweep(now, window stamp) {
	tb.nextSweep = ^stamp(0)
	for k := range tb.m {
		if e := tb.live(k, now, window); e != nil && len(e.failed) > 0 {
			tb.nextSweep = min(tb.nextSweep, slices.Max(e.failed)+window)
		}
	}
}
