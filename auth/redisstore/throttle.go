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
// count of that account's, for Unlock. An attempt in flight is there as
// "?<id>" until it settles; one in flight for longer than inFlightStale,
// whose node presumably died, counts as a failure. Accounts and addresses
// appear as the hex of their SHA-256 only. Each key expires a window after
// its last attempt. All live in the {throttle} slot, so that checking and
// noting an attempt is one script.

// inFlightStale is how long an attempt may stay in flight before it counts
// as a failure.
const inFlightStale = time.Minute

func throttleKeys(account, address [32]byte) []string {
	acc, addr := hex.EncodeToString(account[:]), hex.EncodeToString(address[:])
	return []string{throttleTag + "p:" + acc + ":" + addr, throttleTag + "ad:" + addr, throttleTag + "ac:" + acc, throttleTag + "ap:" + acc}
}

// reserve returns the wait in milliseconds when a key holds its limit of
// failures, -1 when attempts in flight hold the rest of it, else notes the
// attempt in flight and returns 0.
var reserve = rueidis.NewLuaScript(`
local now, window, id, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[6], tonumber(ARGV[8])
local wait, inflight = 0, false
local counted = 3
if tonumber(ARGV[5]) <= 0 then counted = 2 end
for i = 1, counted do
  local limit = tonumber(ARGV[i + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if limit > 0 and redis.call('ZCARD', KEYS[i]) >= limit then
    local failed, oldest = 0, nil
    local m = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
    for j = 1, #m, 2 do
      local at = tonumber(m[j + 1])
      if string.sub(m[j], 1, 1) ~= '?' or at <= now - stale then
        failed = failed + 1
        oldest = oldest or at
      end
    end
    if failed >= limit then
      wait = math.max(wait, oldest + window - now)
    else
      inflight = true
    end
  end
end
if wait > 0 then return wait end
if inflight then return -1 end
for i = 1, counted do
  redis.call('ZADD', KEYS[i], now, '?' .. id)
  redis.call('PEXPIRE', KEYS[i], window)
end
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('PEXPIRE', KEYS[4], window)
return 0
`)

// Reserve notes an attempt in flight unless its pair, address or account
// has reached its limit, in one script for every node: attempts on all
// nodes count together. An account limit of 0 neither checks nor counts
// the account.
func (s *Store) Reserve(account, address [32]byte, l auth.ThrottleLimits, now time.Time) (auth.Attempt, time.Duration, error) {
	a := auth.Attempt{Account: account, Address: address, ID: newID(), At: now}
	m, err := s.script("counting login attempt", reserve, throttleKeys(account, address),
		ms(now), strconv.FormatInt(l.Window.Milliseconds(), 10),
		strconv.Itoa(l.Pair), strconv.Itoa(l.Address), strconv.Itoa(l.Account), a.ID, hex.EncodeToString(address[:]),
		strconv.FormatInt(inFlightStale.Milliseconds(), 10))
	if err != nil {
		return auth.Attempt{}, 0, err
	}
	wait, err := m.AsInt64()
	switch {
	case err != nil:
		return auth.Attempt{}, 0, err
	case wait < 0:
		return auth.Attempt{}, 0, auth.ErrAttemptsInFlight
	case wait > 0:
		return auth.Attempt{}, time.Duration(wait) * time.Millisecond, nil
	}
	return a, 0, nil
}

// settle ends attempt ARGV[1] with outcome ARGV[2]: f (failed) turns it
// into a failure at ARGV[3], p (passed) drops it and its pair's failures,
// u (unchecked) drops it.
var settle = rueidis.NewLuaScript(`
local inflight = '?' .. ARGV[1]
for i = 1, 3 do
  if redis.call('ZREM', KEYS[i], inflight) == 1 and ARGV[2] == 'f' then
    redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  end
end
if ARGV[2] == 'p' then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if string.sub(m, 1, 1) ~= '?' then redis.call('ZREM', KEYS[1], m) end
  end
end
return 1
`)

// outcomes are the names of the Outcomes in the settle script.
var outcomes = [...]string{auth.Unchecked: "u", auth.Failed: "f", auth.Passed: "p"}

// Settle ends a with outcome o, for every node.
func (s *Store) Settle(a auth.Attempt, o auth.Outcome) error {
	_, err := s.script("settling login attempt", settle, throttleKeys(a.Account, a.Address)[:3], a.ID, outcomes[o], ms(a.At))
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
