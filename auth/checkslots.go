package auth

import (
	"context"
	"sync"
)

// checkSlots bounds the password checks (bcrypt) that run at once, and the
// share of them one client address may hold: half, at least one. Slots are
// otherwise first come, first served, so without that share one address
// logging in at high concurrency, even with a right password, would hold
// every slot and have every other address's logins wait and be refused.
// It is safe for concurrent use.
type checkSlots struct {
	mu       sync.Mutex
	free     int            // slots nobody holds
	perAddr  int            // slots one address may hold
	held     map[string]int // slots held, by address, for addresses holding any
	released chan struct{}  // closed, and replaced, when a slot is released
}

func newCheckSlots(n int) *checkSlots {
	return &checkSlots{free: n, perAddr: max(1, n/2), held: make(map[string]int), released: make(chan struct{})}
}

// acquire takes a slot for addr, waiting while ctx lasts for one that is
// free and within addr's share. It reports whether it took one; if so,
// the caller must release it.
func (p *checkSlots) acquire(ctx context.Context, addr string) bool {
	for {
		released, ok := p.take(addr)
		if ok {
			return true
		}
		select {
		case <-released:
		case <-ctx.Done():
			return false
		}
	}
}

// take takes a slot for addr if one is free and within its share;
// otherwise it returns a channel closed when a slot is next released.
func (p *checkSlots) take(addr string) (<-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == 0 || p.held[addr] >= p.perAddr {
		return p.released, false
	}
	p.free--
	p.held[addr]++
	return nil, true
}

// release gives back a slot addr holds and wakes every waiter, since the
// slot may be within the share of any of them.
func (p *checkSlots) release(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free++
	if p.held[addr]--; p.held[addr] <= 0 {
		delete(p.held, addr)
	}
	close(p.released)
	p.released = make(chan struct{})
}
