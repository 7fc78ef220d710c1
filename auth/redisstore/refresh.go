package redisstore

import (
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// A refresh token is the hash rt:<hex of its SHA-256> {f family, u user, i
// issued, e expires, s state: live or rotated}, expiring with the token.
// A family is the hash fam:<id> {u user, r revoked 0/1, a the expiry of its
// last access token, c created}, expiring with the last of its tokens and
// access tokens; ufam:<user> is the set of the user's families, for ending
// them all. All live in the {auth} slot.

var createRefresh = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local fam, user, exp, acc = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'f', fam, 'u', user, 'i', NOW, 'e', exp, 's', 'live')
redis.call('PEXPIREAT', KEYS[1], exp)
local fk, uk = P .. 'fam:' .. fam, P .. 'ufam:' .. user
redis.call('HSET', fk, 'u', user, 'r', '0', 'a', acc, 'c', NOW)
local last = math.max(exp, acc)
redis.call('PEXPIREAT', fk, last)
redis.call('SADD', uk, fam)
extend(uk, last)
return {'ok', fam, user, NOW, exp}
`)

// CreateRefresh starts a new family with the token of this hash.
func (s *Store) CreateRefresh(hash [32]byte, userID string, expires, accessUntil time.Time) (auth.RefreshToken, error) {
	m, err := s.script("creating refresh token", createRefresh, []string{refreshKey(hash)},
		authTag, ms(s.opts.Now()), newID(), userID, ms(expires), ms(accessUntil))
	if err != nil {
		return auth.RefreshToken{}, err
	}
	return refreshReply(hash, m)
}

var rotateRefresh = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local exp, acc = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('HMGET', KEYS[1], 'f', 'u', 'e', 's')
if not t[1] then return {'not_found'} end
if tonumber(t[3]) <= NOW then return {'expired'} end
local fk = P .. 'fam:' .. t[1]
local f = redis.call('HMGET', fk, 'r', 'a')
if not f[1] or f[1] == '1' then return {'revoked'} end
if t[4] ~= 'live' then
  revoke(t[1])
  return {'reused'}
end
redis.call('HSET', KEYS[1], 's', 'rotated')
redis.call('HSET', KEYS[2], 'f', t[1], 'u', t[2], 'i', NOW, 'e', exp, 's', 'live')
redis.call('PEXPIREAT', KEYS[2], exp)
if acc > tonumber(f[2]) then redis.call('HSET', fk, 'a', acc) end
local last = math.max(exp, acc)
extend(fk, last)
extend(P .. 'ufam:' .. t[2], last)
return {'ok', t[1], t[2], NOW, exp}
`)

// RotateRefresh replaces old by next in old's family, in one script: of
// concurrent rotations of one token on any number of nodes, one succeeds;
// a rotated token used again revokes its family and denies its sid.
func (s *Store) RotateRefresh(old, next [32]byte, expires, accessUntil time.Time) (auth.RefreshToken, error) {
	m, err := s.script("rotating refresh token", rotateRefresh, []string{refreshKey(old), refreshKey(next)},
		authTag, ms(s.opts.Now()), ms(expires), ms(accessUntil))
	if err != nil {
		return auth.RefreshToken{}, err
	}
	return refreshReply(next, m)
}

// refreshErrors maps the refusals of the refresh scripts to auth's errors.
var refreshErrors = map[string]error{
	"not_found": auth.ErrRefreshNotFound,
	"expired":   auth.ErrRefreshExpired,
	"revoked":   auth.ErrRefreshRevoked,
	"reused":    auth.ErrRefreshReused,
}

// refreshReply reads {'ok', family, user, issued, expires} or a refusal.
func refreshReply(hash [32]byte, m rueidis.RedisMessage) (auth.RefreshToken, error) {
	st, arr, err := status(m)
	if err != nil {
		return auth.RefreshToken{}, err
	}
	if st != "ok" || len(arr) != 5 {
		return auth.RefreshToken{}, refusal(refreshErrors, st)
	}
	f := texts(arr[1:])
	return auth.RefreshToken{Hash: hash, Family: f[0], UserID: f[1], Issued: fromMS(f[2]), Expires: fromMS(f[3])}, nil
}

// LookupRefresh finds the token of this hash, whatever its state, until
// it expires.
func (s *Store) LookupRefresh(hash [32]byte) (auth.RefreshToken, error) {
	m, err := s.do("looking up refresh token", s.c.B().Hmget().Key(refreshKey(hash)).Field("f", "u", "i", "e").Build())
	if err != nil {
		return auth.RefreshToken{}, err
	}
	arr, _ := m.ToArray()
	f := texts(arr)
	if len(f) != 4 || f[0] == "" {
		return auth.RefreshToken{}, auth.ErrRefreshNotFound
	}
	return auth.RefreshToken{Hash: hash, Family: f[0], UserID: f[1], Issued: fromMS(f[2]), Expires: fromMS(f[3])}, nil
}

var revokeFamily = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
revoke(ARGV[3])
return {'ok'}
`)

// RevokeFamily revokes the family, and denies its sid (published to every
// node) while its access tokens may still be valid.
func (s *Store) RevokeFamily(family string) error {
	m, err := s.script("revoking refresh family", revokeFamily, []string{authTag + "fam:" + family},
		authTag, ms(s.opts.Now()), family)
	if err != nil {
		return err
	}
	st, _, err := status(m)
	if err != nil || st == "ok" {
		return err
	}
	return refusal(refreshErrors, st)
}

func refreshKey(h [32]byte) string { return refreshByKey + hexHash(h) }
