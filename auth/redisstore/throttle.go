package redisstore

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// Failed logins are sorted sets of attempt ids scored by time in
// milliseconds: p:<account>:<address> per pair, ad:<address> and
// ac:<account>, with ap:<account> the set of the addresses with a pair
// count of that account's, for Unlock. Accounts and addresses appear as the
// hex of their SHA-256 only. Each key expires a window after its last
// failure. All live in the {throttle} slot, so that checking and counting
// an attempt is one script.

func throttleKeys(account, address [32]byte) []string {
	acc, addr := hex.EncodeToString(account[:]), hex.EncodeToString(address[:])
	return []string{throttleTag + "p:" + acc + ":" + addr, throttleTag + "ad:" + addr, throttleTag + "ac:" + acc, throttleTag + "ap:" + acc}
}

var reserve = rueidis.NewLuaScript(`
local now, window, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[6]
local wait = 0
local counted = 3
if tonumber(ARGV[5]) <= 0 then counted = 2 end
for i = 1, counted do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 2]) then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now)
  end
end
if wait > 0 then return wait end
for i = 1, counted do
  redis.call('ZADD', KEYS[i], now, id)
  redis.call('PEXPIRE', KEYS[i], window)
end
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('PEXPIRE', KEYS[4], window)
return 0
`)

// Reserve counts an attempt unless its pair, address or account has
// reached its limit, in one script for every node: failures on all nodes
// count together. An account limit of 0 neither checks nor counts the
// account.
func (s *Store) Reserve(account, address [32]byte, l auth.ThrottleLimits, now time.Time) (auth.Attempt, time.Duration, error) {
	a := auth.Attempt{Account: account, Address: address, ID: newID(), At: now}
	m, err := s.script("counting login attempt", reserve, throttleKeys(account, address),
		ms(now), strconv.FormatInt(l.Window.Milliseconds(), 10),
		strconv.Itoa(l.Pair), strconv.Itoa(l.Address), strconv.Itoa(l.Account), a.ID, hex.EncodeToString(address[:]))
	if err != nil {
		return auth.Attempt{}, 0, err
	}
	wait, err := m.AsInt64()
	if err != nil || wait > 0 {
		return auth.Attempt{}, time.Duration(wait) * time.Millisecond, err
	}
	return a, 0, nil
}

var settle = rueidis.NewLuaScript(`
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`)

// Settle takes a back; when passed, its pair starts again from zero.
func (s *Store) Settle(a auth.Attempt, passed bool) error {
	flag := "0"
	if passed {
		flag = "1"
	}
	_, err := s.script("settling login attempt", settle, throttleKeys(a.Account, a.Address)[:3], a.ID, flag)
	return err
}

var unlock = rueidis.NewLuaScript(`
local since = '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2]))
local n, inpairs = redis.call('ZCOUNT', KEYS[1], since, '+inf'), 0
redis.call('DEL', KEYS[1])
for _, addr in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  inpairs = inpairs + redis.call('ZCOUNT', ARGV[3] .. addr, since, '+inf')
  redis.call('DEL', ARGV[3] .. addr)
end
redis.call('DEL', KEYS[2])
return math.max(n, inpairs)
`)

// Unlock forgets the account's failures from every address, for every
// node, and returns how many were within the window: the account's, or
// its pairs' together when more (an account not counted has none).
func (s *Store) Unlock(account [32]byte, l auth.ThrottleLimits, now time.Time) (int, error) {
	acc := hex.EncodeToString(account[:])
	m, err := s.script("clearing login throttle", unlock, []string{throttleTag + "ac:" + acc, throttleTag + "ap:" + acc},
		ms(now), strconv.FormatInt(l.Window.Milliseconds(), 10), throttleTag+"p:"+acc+":")
	if err != nil {
		return 0, err
	}
	n, err := m.AsInt64()
	return int(n), err
}
