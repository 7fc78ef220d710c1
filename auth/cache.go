package auth

import (
	"sync"
	"time"
)

// tokenCache remembers verified access tokens by their text, until they
// expire. A look-up compares the token's bytes only with an entry whose
// (randomly seeded) map hash matches, so its timing tells nothing about
// the tokens cached; and it needs no hash of the token per frame. It holds at most max entries: when full, expired
// entries go first, then arbitrary ones until it is 7/8 full, so the work
// is amortised over many insertions.
type tokenCache struct {
	mu  sync.Mutex
	m   map[string]Claims
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[string]Claims), max: max}
}

func (tc *tokenCache) get(token string, now time.Time) (Claims, bool) {
	if tc.max <= 0 {
		return Claims{}, false
	}
	tc.mu.Lock()
	c, ok := tc.m[token]
	tc.mu.Unlock()
	if !ok || !now.Before(c.Expires) {
		return Claims{}, false
	}
	return c, true
}

// put keeps c for token, which must not share memory that changes.
func (tc *tokenCache) put(token string, c Claims, now time.Time) {
	if tc.max <= 0 || !now.Before(c.Expires) {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.m) >= tc.max {
		tc.evict(now)
	}
	tc.m[token] = c
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
