package redisstore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// A client (service account) is the hash client:<id> {id, roles (a JSON
// array), hash (hex SHA-256 of its secret), login, created, a (when its
// last access token ends, ms)}; the set clients holds every id. Both live
// in the {auth} slot, so that deleting a client and denying its login are
// one script.

var _ auth.ClientStore = (*Store)(nil)

const clientsSet = authTag + "clients"

func clientKey(id string) string { return authTag + "client:" + id }

var addClient = rueidis.NewLuaScript(`
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'roles', ARGV[2], 'hash', ARGV[3], 'login', ARGV[4], 'created', ARGV[5], 'a', '0')
return 1
`)

// AddClient stores c unless a client has its id (auth.ErrClientExists),
// in one step.
func (s *Store) AddClient(c auth.Client) error {
	if c.ID == "" || c.LoginID == "" {
		return errors.New("redisstore: client id or login id is empty")
	}
	roles, _ := json.Marshal(slices.Concat([]string{}, c.Roles))
	m, err := s.script("adding client", addClient, []string{clientsSet, clientKey(c.ID)},
		c.ID, string(roles), hexHash(c.SecretHash), c.LoginID, ms(c.Created))
	if err != nil {
		return err
	}
	if n, _ := m.AsInt64(); n == 0 {
		return fmt.Errorf("client %s: %w", c.ID, auth.ErrClientExists)
	}
	return nil
}

// ClientByID finds a client by id.
func (s *Store) ClientByID(id string) (auth.Client, error) {
	m, err := s.do("looking up client", s.c.B().Hgetall().Key(clientKey(id)).Build())
	if err != nil {
		return auth.Client{}, err
	}
	return clientReply(m)
}

// Clients returns every client, ordered by id, reading them in one
// pipeline.
func (s *Store) Clients() ([]auth.Client, error) {
	cs, err := readHashes(s, "listing clients", s.c.B().Smembers().Key(clientsSet).Build(), clientKey, clientReply)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cs, func(a, b auth.Client) int { return strings.Compare(a.ID, b.ID) })
	return cs, nil
}

var recordClientToken = rueidis.NewLuaScript(`
if redis.call('HGET', KEYS[1], 'login') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'a')) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'a', ARGV[2])
end
return 1
`)

// RecordClientToken raises the time client id's last access token ends to
// until, if the client exists with login loginID
// (auth.ErrClientNotFound otherwise), in one step.
func (s *Store) RecordClientToken(id, loginID string, until time.Time) error {
	m, err := s.script("recording client token", recordClientToken, []string{clientKey(id)}, loginID, ms(until))
	if err != nil {
		return err
	}
	if n, _ := m.AsInt64(); n == 0 {
		return fmt.Errorf("client %s: %w", id, auth.ErrClientNotFound)
	}
	return nil
}

var deleteClient = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HGETALL', KEYS[2])
if #f == 0 then return f end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[3])
local c = {}
for i = 1, #f, 2 do c[f[i]] = f[i + 1] end
deny(c['login'], c['a'])
return f
`)

// DeleteClient removes client id and denies its login until its last
// access token ends, which every node hears, in one step; it returns the
// removed client (auth.ErrClientNotFound for an unknown id).
func (s *Store) DeleteClient(id string) (auth.Client, error) {
	m, err := s.script("deleting client", deleteClient, []string{clientsSet, clientKey(id)}, authTag, ms(s.opts.Now()), id)
	if err != nil {
		return auth.Client{}, err
	}
	return clientReply(m)
}

// clientReply reads the fields of a client hash, as HGETALL answers them
// (a map, or a flat array from a script); none means no client.
func clientReply(m rueidis.RedisMessage) (auth.Client, error) {
	f, err := m.AsStrMap()
	if err != nil || len(f) == 0 {
		return auth.Client{}, errors.Join(auth.ErrClientNotFound, err)
	}
	c := auth.Client{ID: f["id"], LoginID: f["login"], Created: fromMS(f["created"])}
	if a := fromMS(f["a"]); a.UnixMilli() > 0 {
		c.AccessUntil = a
	}
	if n, err := hex.Decode(c.SecretHash[:], []byte(f["hash"])); err != nil || n != len(c.SecretHash) {
		return auth.Client{}, fmt.Errorf("redisstore: client %s: malformed secret hash", c.ID)
	}
	if err := json.Unmarshal([]byte(f["roles"]), &c.Roles); err != nil {
		return auth.Client{}, fmt.Errorf("redisstore: client %s: roles: %w", c.ID, err)
	}
	return c, nil
}
