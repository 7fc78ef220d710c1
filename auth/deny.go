package auth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// denyList is the in-memory set of denied jtis and sids, each until the
// time its last token expires; it starts from the DenialStore's and writes
// through to it. Reads take a read lock; expired entries are swept when a
// new one is added, at most once a second.
type denyList struct {
	epoch     atomic.Uint64 // counts the changes: see Service.Epoch
	mu        sync.RWMutex
	ids       map[string]time.Time
	nextSweep time.Time
	store     DenialStore
}

func newDenyList(store DenialStore) (*denyList, error) {
	d := &denyList{ids: make(map[string]time.Time), store: store}
	if store == nil {
		return d, nil
	}
	m, err := store.Denied()
	if err != nil {
		return nil, fmt.Errorf("auth: loading denied tokens: %w", err)
	}
	for id, until := range m {
		d.ids[id] = until
	}
	return d, nil
}

// revoked reports whether c's jti or sid is denied at now.
func (d *denyList) revoked(c Claims, now time.Time) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.deniedLocked(c.ID, now) || d.deniedLocked(c.SID, now)
}

func (d *denyList) deniedLocked(id string, now time.Time) bool {
	if id == "" || len(d.ids) == 0 {
		return false
	}
	until, ok := d.ids[id]
	return ok && now.Before(until)
}

// deny denies id until until, in memory and in the store.
func (d *denyList) deny(id string, until, now time.Time) error {
	if id == "" {
		return nil
	}
	d.add(id, until, now)
	if d.store == nil {
		return nil
	}
	return d.store.Deny(id, until)
}

// add denies id until until in memory only, and reports whether it was not
// denied at now before. Expired entries are swept at most once a second,
// so that taking many denials at once stays linear.
func (d *denyList) add(id string, until, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !now.Before(d.nextSweep) {
		for k, u := range d.ids {
			if !now.Before(u) {
				delete(d.ids, k)
			}
		}
		d.nextSweep = now.Add(time.Second)
	}
	prev, was := d.ids[id]
	was = was && now.Before(prev)
	if until.After(prev) {
		d.ids[id] = until
		d.epoch.Add(1)
	}
	return !was && now.Before(until)
}

// remove takes back a denial of id that add made and the store did not
// take.
func (d *denyList) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ids, id)
	d.epoch.Add(1)
}

// TakeDenial applies a denial made elsewhere (on another node, or by an
// admin command) that a shared store reports: id, a login's sid or an
// access token's jti, is denied here until until, and when it was not
// denied here yet, Options.OnLogout ends its live sessions. The store
// already holds the denial; reporting one again does no harm.
func (s *Service) TakeDenial(id string, until time.Time) {
	if id == "" || !s.denied.add(id, until, s.now()) {
		return
	}
	if s.opts.OnLogout != nil {
		s.opts.OnLogout(id)
	}
}
