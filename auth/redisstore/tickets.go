package redisstore

import (
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// A ticket is the hash t:<hex of its SHA-256> {s subject, d sid, j jti, i
// issued, e expires}, expiring with it. The sorted sets l:<login>,
// u:<subject> and all hold the outstanding tickets (by hex hash) of a login,
// of a user and in all, scored by expiry. All live in the {tickets} slot,
// so that checking the limits and recording a ticket, or spending it, is
// one script.

var addTicket = rueidis.NewLuaScript(`
local now, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
local function held(k, limit)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  if redis.call('ZCARD', k) < limit then return nil end
  return redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2]
end
if held(KEYS[4], tonumber(ARGV[3])) then return {'full'} end
local first = held(KEYS[2], tonumber(ARGV[4]))
if first then return {'login', first} end
first = held(KEYS[3], tonumber(ARGV[5]))
if first then return {'user', first} end
redis.call('HSET', KEYS[1], 's', ARGV[7], 'd', ARGV[8], 'j', ARGV[9], 'i', now, 'e', exp)
redis.call('PEXPIREAT', KEYS[1], exp)
for i = 2, 4 do
  redis.call('ZADD', KEYS[i], exp, ARGV[6])
  local cur = redis.call('PEXPIRETIME', KEYS[i])
  if cur < exp then redis.call('PEXPIREAT', KEYS[i], exp) end
end
return {'ok'}
`)

// AddTicket checks the limits and records t, in one script for every
// node: the limits hold across nodes.
func (s *Store) AddTicket(t auth.Ticket, l auth.TicketLimits, now time.Time) error {
	h := hexHash(t.Hash)
	keys := []string{ticketTag + "t:" + h, ticketTag + "l:" + t.Login(), ticketTag + "u:" + t.Subject, ticketsAll}
	m, err := s.script("adding ticket", addTicket, keys,
		ms(now), ms(t.Expires), strconv.Itoa(l.Total), strconv.Itoa(l.PerLogin), strconv.Itoa(l.PerUser),
		h, t.Subject, t.SID, t.JTI)
	if err != nil {
		return err
	}
	st, arr, err := status(m)
	switch {
	case err != nil || st == "ok":
		return err
	case st == "full":
		return auth.ErrTicketsFull
	case len(arr) == 2:
		return &auth.TicketLimitError{Holder: st, FirstExpiry: fromMS(texts(arr[1:])[0])}
	}
	return refusal(nil, st)
}

var spendTicket = rueidis.NewLuaScript(`
local t = redis.call('HMGET', KEYS[1], 's', 'd', 'j', 'i', 'e')
if not t[5] then return {} end
redis.call('DEL', KEYS[1])
local login = t[2]
if login == '' then login = t[3] end
redis.call('ZREM', ARGV[1] .. 'l:' .. login, ARGV[2])
redis.call('ZREM', ARGV[1] .. 'u:' .. t[1], ARGV[2])
redis.call('ZREM', ARGV[1] .. 'all', ARGV[2])
return t
`)

// SpendTicket removes and returns the ticket of this hash, in one script:
// of nodes spending one ticket at once, one finds it.
func (s *Store) SpendTicket(hash [32]byte) (auth.Ticket, error) {
	h := hexHash(hash)
	m, err := s.script("spending ticket", spendTicket, []string{ticketTag + "t:" + h}, ticketTag, h)
	if err != nil {
		return auth.Ticket{}, err
	}
	arr, _ := m.ToArray()
	f := texts(arr)
	if len(f) != 5 {
		return auth.Ticket{}, auth.ErrTicketNotFound
	}
	return auth.Ticket{Hash: hash, Subject: f[0], SID: f[1], JTI: f[2], Issued: fromMS(f[3]), Expires: fromMS(f[4])}, nil
}
