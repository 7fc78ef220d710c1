package auth

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// DenialStore keeps denied token ids (jti) and logins (sid) across restarts.
// Ids are stored with a "jti:" or "sid:" prefix; Denied returns every entry
// not yet swept, expired or not.
type DenialStore interface {
	Deny(id string, until time.Time) error
	Denied() (map[string]time.Time, error)
}

const (
	denyJTI = "jti:"
	denySID = "sid:"
)

// denyList is the in-memory set of denied jtis and sids, each until the
// time its last token expires. Reads take a read lock; expired entries are
// swept when a new one is added.
type denyList struct {
	mu    sync.RWMutex
	ids   map[string]map[string]time.Time // by prefix, then id
	store DenialStore
}

func newDenyList(store DenialStore) (*denyList, error) {
	d := &denyList{ids: map[string]map[string]time.Time{denyJTI: {}, denySID: {}}, store: store}
	if store == nil {
		return d, nil
	}
	m, err := store.Denied()
	if err != nil {
		return nil, fmt.Errorf("auth: loading denied tokens: %w", err)
	}
	for key, until := range m {
		for prefix, ids := range d.ids {
			if id, ok := strings.CutPrefix(key, prefix); ok {
				ids[id] = until
			}
		}
	}
	return d, nil
}

// revoked reports whether c's jti or sid is denied at now.
func (d *denyList) revoked(c Claims, now time.Time) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.deniedLocked(denyJTI, c.ID, now) || d.deniedLocked(denySID, c.SID, now)
}

// sidRevoked reports whether login sid is denied at now.
func (d *denyList) sidRevoked(sid string, now time.Time) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.deniedLocked(denySID, sid, now)
}

func (d *denyList) deniedLocked(prefix, id string, now time.Time) bool {
	if id == "" {
		return false
	}
	until, ok := d.ids[prefix][id]
	return ok && now.Before(until)
}

// deny denies id (of kind prefix) until until, in memory and in the store.
func (d *denyList) deny(prefix, id string, until, now time.Time) error {
	if id == "" {
		return nil
	}
	d.mu.Lock()
	for _, ids := range d.ids {
		for k, u := range ids {
			if !now.Before(u) {
				delete(ids, k)
			}
		}
	}
	if until.After(d.ids[prefix][id]) {
		d.ids[prefix][id] = until
	}
	d.mu.Unlock()
	if d.store == nil {
		return nil
	}
	return d.store.Deny(prefix+id, until)
}
