package redisstore

import "github.com/redis/rueidis"

// LoadOrStoreKey returns the key stored under name, first storing fresh
// there when there is none, with one SET NX GET: nodes that start together
// all end up with the key stored first. Keys never expire.
func (s *Store) LoadOrStoreKey(name string, fresh []byte) ([]byte, error) {
	m, err := s.do("loading signing key", s.c.B().Set().Key(keyPrefix+name).Value(rueidis.BinaryString(fresh)).Nx().Get().Build())
	if rueidis.IsRedisNil(err) {
		return fresh, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := m.ToString()
	return []byte(v), err
}
