package redisstore

// luaCommon defines the Lua functions the scripts of the {auth} slot share.
// P is the slot's key prefix and NOW the caller's clock in milliseconds;
// a script sets both before calling them.
const luaCommon = `
local P, NOW
-- extend makes key live at least until t (ms).
local function extend(key, t)
  local cur = redis.call('PEXPIRETIME', key)
  if cur ~= -2 and cur < t then redis.call('PEXPIREAT', key, t) end
end
-- deny denies id until t, keeping the later of two times, forgets the
-- denials that ended, and publishes a new or extended one.
local function deny(id, t)
  t = tonumber(t)
  if t <= NOW then return end
  local dk = P .. 'denied'
  local changed = redis.call('ZADD', dk, 'GT', 'CH', t, id)
  redis.call('ZREMRANGEBYSCORE', dk, '-inf', NOW)
  extend(dk, t)
  if changed == 1 then redis.call('PUBLISH', '` + denyChannel + `', t .. ':' .. id) end
end
-- revoke revokes family id and denies its sid while its access tokens
-- last; it returns when that denial ends (ms), or nil when the family was
-- unknown or revoked already.
local function revoke(id)
  local fk = P .. 'fam:' .. id
  local f = redis.call('HMGET', fk, 'r', 'a')
  if not f[1] or f[1] == '1' then return nil end
  redis.call('HSET', fk, 'r', '1')
  deny(id, f[2])
  return f[2]
end
`
