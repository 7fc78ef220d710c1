package auth

import (
	"sync"
	"time"
)

// tokenCache remembers verified access tokens by the SHA-256 of their text,
// until they expire. It holds at most max entries: when full, expired
// entries go first, then arbitrary ones until it is 7/8 full, so the work
// is amortised over many insertions.
type tokenCache struct {
	mu  sync.Mutex
	m   map[[32]byte]Claims
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]Claims), max: max}
}

func (tc *tokenCache) get(key [32]byte, now time.Time) (Claims, bool) {
	if tc.max <= 0 {
		return Claims{}, false
	}
	tc.mu.Lock()
	c, ok := tc.m[key]
	tc.mu.Unlock()
	if !ok || !now.Before(c.Expires) {
		return Claims{}, false
	}
	return c, true
}

func (tc *tokenCache) put(key [32]byte, c Claims, now time.Time) {
	if tc.max <= 0 || !now.Before(c.Expires) {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.m) >= tc.max {
		tc.evict(now)
	}
	tc.m[key] = c
}

func (tc *tokenCache) evict(now time.Time) {
	for k, c := range tc.m {
		if !now.Before(c.Expires) {
			delete(tc.m, k)
		}
	}
	for k := range tc.m {
		if len(tc.m) < tc.max-tc.max/8 {
			return
		}
		delete(tc.m, k)
	}
}
