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

// swapKey sets KEYS[1] to ARGV[2] if it holds ARGV[1] (a missing key holds
// the empty string) and returns 1, or 0 leaving it as it is.
var swapKey = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// SwapKey stores next under name if old is stored there, with one script,
// and reports whether it did. Keys never expire.
func (s *Store) SwapKey(name string, old, next []byte) (bool, error) {
	m, err := s.script("swapping signing keys", swapKey, []string{keyPrefix + name}, string(old), string(next))
	if err != nil {
		return false, err
	}
	n, err := m.AsInt64()
	return n == 1, err
}
