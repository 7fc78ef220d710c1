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
// hash, created}; emails maps each lower-cased email to its user's id.
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
	u := User{User: auth.User{ID: f["id"], Email: f["email"], Name: f["name"], PasswordHash: []byte(f["hash"])}, Created: fromMS(f["created"])}
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

// endLogins ends every login of the user with id uid (a Lua snippet): each
// family is revoked and its sid denied, which every node hears.
const endLogins = `
local function endLogins(uid)
  local uk = P .. 'ufam:' .. uid
  for _, fam in ipairs(redis.call('SMEMBERS', uk)) do revoke(fam) end
  redis.call('DEL', uk)
end
`

var deleteUser = rueidis.NewLuaScript(luaCommon + endLogins + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local id = redis.call('HGET', KEYS[1], ARGV[3])
if not id then return 0 end
redis.call('HDEL', KEYS[1], ARGV[3])
redis.call('DEL', P .. 'user:' .. id)
endLogins(id)
return 1
`)

// DeleteUser removes the user with this email and ends all of the user's
// logins on every node, in one step (auth.ErrUserNotFound when there is no
// such user).
func (s *Store) DeleteUser(email string) error {
	return s.userScript("deleting user", deleteUser, email)
}

var setPassword = rueidis.NewLuaScript(luaCommon + endLogins + `
P, NOW = ARGV[1], tonumber(ARGV[2])
local id = redis.call('HGET', KEYS[1], ARGV[3])
if not id then return 0 end
redis.call('HSET', P .. 'user:' .. id, 'hash', ARGV[4])
endLogins(id)
return 1
`)

// SetPassword replaces the password hash of the user with this email and,
// in the same step, ends all of the user's logins on every node.
func (s *Store) SetPassword(email string, hash []byte) error {
	return s.userScript("setting password", setPassword, email, string(hash))
}

// userScript runs a script on the user with this email; it answers 0 when
// there is none.
func (s *Store) userScript(what string, l *rueidis.Lua, email string, args ...string) error {
	m, err := s.script(what, l, []string{usersEmails}, append([]string{authTag, ms(s.opts.Now()), emailField(email)}, args...)...)
	if err != nil {
		return err
	}
	if n, _ := m.AsInt64(); n == 0 {
		return fmt.Errorf("user %s: %w", email, auth.ErrUserNotFound)
	}
	return nil
}
