package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// A user is the hash user:<id> {id, email, name, roles (a JSON array),
// hash, created, disabled ("1", or "0" or absent)}; emails maps each lower-cased email to its user's id.
// Both live in the {auth} slot, so that adding, deleting and changing a
// user is one script with ending the user's logins.

// ErrExists refuses a user whose email is taken, regardless of case.
var ErrExists = errors.New("redisstore: a user with this email exists")

// User is an account with its creation time, for `stompd user list`.
type User struct {
	auth.User
	Created time.Time
}

func emailField(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func userKey(id string) string { return authTag + "user:" + id }

var addUser = rueidis.NewLuaScript(`
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'email', ARGV[3], 'name', ARGV[4], 'roles', ARGV[5], 'hash', ARGV[6], 'created', ARGV[7])
return 1
`)

// AddUser stores u under a new random id and returns it, or fails with
// ErrExists when the email is taken. u.ID is ignored.
func (s *Store) AddUser(u auth.User) (User, error) {
	if emailField(u.Email) == "" {
		return User{}, errors.New("redisstore: user email is empty")
	}
	u.ID = newID()
	roles, _ := json.Marshal(slices.Concat([]string{}, u.Roles))
	now := s.opts.Now()
	m, err := s.script("adding user", addUser, []string{usersEmails, userKey(u.ID)},
		u.ID, emailField(u.Email), u.Email, u.Name, string(roles), string(u.PasswordHash), ms(now))
	if err != nil {
		return User{}, err
	}
	if n, _ := m.AsInt64(); n == 0 {
		return User{}, fmt.Errorf("user %s: %w", u.Email, ErrExists)
	}
	return User{User: u, Created: time.UnixMilli(now.UnixMilli())}, nil
}

var userByEmail = rueidis.NewLuaScriptReadOnly(`
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. 'user:' .. id)
`)

// UserByEmail finds a user by email, ignoring case.
func (s *Store) UserByEmail(email string) (auth.User, error) {
	m, err := s.script("looking up user", userByEmail, []string{usersEmails}, authTag, emailField(email))
	if err != nil {
		return auth.User{}, err
	}
	u, err := userReply(m)
	return u.User, err
}

// UserByID finds a user by id.
func (s *Store) UserByID(id string) (auth.User, error) {
	m, err := s.do("looking up user", s.c.B().Hgetall().Key(userKey(id)).Build())
	if err != nil {
		return auth.User{}, err
	}
	u, err := userReply(m)
	return u.User, err
}

// userReply reads the fields of a user hash; none means no user.
func userReply(m rueidis.RedisMessage) (User, error) {
	f, err := m.AsStrMap()
	if err != nil || len(f) == 0 {
		return User{}, errors.Join(auth.ErrUserNotFound, err)
	}
	u := User{User: auth.User{ID: f["id"], Email: f["email"], Name: f["name"], PasswordHash: []byte(f["hash"]), Disabled: f["disabled"] == "1"}, Created: fromMS(f["created"])}
	if err := json.Unmarshal([]byte(f["roles"]), &u.Roles); err != nil {
		return User{}, fmt.Errorf("redisstore: user %s: roles: %w", u.ID, err)
	}
	return u, nil
}

// Users returns every user, ordered by lower-cased email, reading them in
// one pipeline.
func (s *Store) Users() ([]User, error) {
	users, err := readHashes(s, "listing users", s.c.B().Hvals().Key(usersEmails).Build(), userKey, userReply)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(emailField(a.Email), emailField(b.Email)) })
	return users, nil
}

// DeleteUser removes the user with this email and ends all of the user's
// logins on every node, in one step (auth.ErrUserNotFound when there is no
// such user).
func (s *Store) DeleteUser(email string) error {
	_, _, err := s.ChangeUser(auth.UserRef{Email: email}, auth.UserChange{Delete: true})
	return err
}

// SetPassword replaces the password hash of the user with this email and,
// in the same step, ends all of the user's logins on every node.
func (s *Store) SetPassword(email string, hash []byte) error {
	_, _, err := s.ChangeUser(auth.UserRef{Email: email}, auth.UserChange{PasswordHash: hash})
	return err
}

// changeUser applies a change to the user whose email field is ARGV[3],
// checking that its id is ARGV[4] when that is set. ARGV[5] to ARGV[8] are
// the new name, roles, hash and disabled flag (an empty argument leaves
// one unchanged; the name and roles come with a leading "=" so that an
// empty one can be set); ARGV[9] "1" deletes the user, ARGV[10] "1" ends
// its logins: each family is revoked and its sid denied, which every node
// hears. It returns
// {} for no such user, else {the user's fields, the denials made as
// {sid, until ms, ...}}.
var changeUser = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local id = redis.call('HGET', KEYS[1], ARGV[3])
if not id or (ARGV[4] ~= '' and id ~= ARGV[4]) then return {} end
local uk = P .. 'user:' .. id
local set = {}
for i, field in ipairs({'name', 'roles', 'hash', 'disabled'}) do
  local v = ARGV[4 + i]
  if v ~= '' then
    if field == 'name' or field == 'roles' then v = string.sub(v, 2) end
    table.insert(set, field)
    table.insert(set, v)
  end
end
if #set > 0 then redis.call('HSET', uk, unpack(set)) end
local user = redis.call('HGETALL', uk)
if ARGV[9] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[3])
  redis.call('DEL', uk)
end
local denied = {}
if ARGV[10] == '1' then
  local fk = P .. 'ufam:' .. id
  for _, fam in ipairs(redis.call('SMEMBERS', fk)) do
    local t = revoke(fam)
    if t and tonumber(t) > NOW then
      table.insert(denied, fam)
      table.insert(denied, t)
    end
  end
  redis.call('DEL', fk)
end
return {user, denied}
`)

// ChangeUser applies c to the user ref names and returns the user as
// changed (as it was, when deleted) and the sids of the logins it ended,
// each denied until its last access token expires, in one step: when c
// ends the user's logins (auth.UserChange.EndsLogins), every refresh token
// family of the user is revoked and its sid denied on every node. An empty
// change returns the user as it is; no such user gives
// auth.ErrUserNotFound.
func (s *Store) ChangeUser(ref auth.UserRef, c auth.UserChange) (User, map[string]time.Time, error) {
	email := ref.Email
	if email == "" {
		u, err := s.UserByID(ref.ID)
		if err != nil {
			return User{}, nil, err
		}
		email = u.Email
	}
	m, err := s.script("changing user", changeUser, []string{usersEmails}, changeArgs(s.opts.Now(), email, ref.ID, c)...)
	if err != nil {
		return User{}, nil, err
	}
	parts, _ := m.ToArray()
	if len(parts) != 2 {
		return User{}, nil, fmt.Errorf("user %s: %w", email, auth.ErrUserNotFound)
	}
	u, err := userReply(parts[0])
	if err != nil {
		return User{}, nil, err
	}
	flat, _ := parts[1].AsStrSlice()
	denied := make(map[string]time.Time, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		denied[flat[i]] = fromMS(flat[i+1])
	}
	return u, denied, nil
}

// changeArgs are the arguments of changeUser for c.
func changeArgs(now time.Time, email, id string, c auth.UserChange) []string {
	args := []string{authTag, ms(now), emailField(email), id, "", "", string(c.PasswordHash), "", flag(c.Delete), flag(c.EndsLogins())}
	if c.Name != nil {
		args[4] = "=" + *c.Name
	}
	if c.Roles != nil {
		roles, _ := json.Marshal(slices.Concat([]string{}, *c.Roles))
		args[5] = "=" + string(roles)
	}
	if c.Disabled != nil {
		args[7] = "0"
		if *c.Disabled {
			args[7] = "1"
		}
	}
	return args
}

// flag is a script's argument for b: "1" or "".
func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}
