package auth

import (
	"fmt"
	"sync"
	"time"
)

// denyList is the in-memory set of denied jtis and sids, each until the
// time its last token expires; it starts from the DenialStore's and writes
// through to it. Reads take a read lock; expired entries are swept when a
// new one is added.
type denyList struct {
	mu    sync.RWMutex
	ids   map[string]time.Time
	store DenialStore
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
	d.mu.Lock()
	for k, u := range d.ids {
		if !now.Before(u) {
			delete(d.ids, k)
		}
	}
	if until.After(d.ids[id]) {
		d.ids[id] = until
	}
	d.mu.Unlock()
	if d.store == nil {
		return nil
	}
	return d.store.Deny(id, until)
}
