package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
)

// DefaultTimeout bounds each call to Redis.
const DefaultTimeout = 2 * time.Second

// Options configure a Store. Zero values mean the documented defaults.
type Options struct {
	// Timeout bounds each call to Redis, default 2 s; past it the call
	// fails with auth.ErrUnavailable.
	Timeout time.Duration
	// Logger reports the denial watch losing and regaining Redis; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock expiries are compared with; default time.Now. Every
	// node sharing the Redis should keep its clock in sync.
	Now func() time.Time
}

// Store is auth's shared state on Redis: auth.Store, auth.TicketStore and
// auth.LoginThrottle, plus the user administration of `stompd user`. It is
// safe for concurrent use; it does not own the client, which the caller
// closes after the Store's last use.
type Store struct {
	c    rueidis.Client
	opts Options
}

var (
	_ auth.Store         = (*Store)(nil)
	_ auth.TicketStore   = (*Store)(nil)
	_ auth.LoginThrottle = (*Store)(nil)
)

// New returns a Store on client c.
func New(c rueidis.Client, opts Options) *Store {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{c: c, opts: opts}
}

// Key names. Keys that a script uses together share a hash tag, so that a
// Redis Cluster keeps them in one slot (see the package documentation).
const (
	prefix       = "stompd:auth:"
	authTag      = prefix + "{auth}:"     // users, refresh tokens, families, denials
	ticketTag    = prefix + "{tickets}:"  // tickets and their holders
	throttleTag  = prefix + "{throttle}:" // failed-login counts
	keyPrefix    = prefix + "key:"        // signing keys, one key each
	usersEmails  = authTag + "emails"
	deniedKey    = authTag + "denied"
	denyChannel  = prefix + "denials"
	ticketsAll   = ticketTag + "all"
	refreshByKey = authTag + "rt:"
)

// ctx returns the context of one call to Redis.
func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.Timeout)
}

func (s *Store) nowMS() int64 { return s.opts.Now().UnixMilli() }

// fail wraps err, from doing what: failures to reach Redis, and the
// replies of a Redis that cannot serve (loading, cluster down), with
// auth.ErrUnavailable.
func fail(what string, err error) error {
	if re, ok := rueidis.IsRedisErr(err); ok && !re.IsLoading() && !re.IsClusterDown() && !re.IsTryAgain() {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", what, auth.ErrUnavailable, err)
}

// script runs a Lua script; its error, if any, is wrapped by fail.
func (s *Store) script(what string, l *rueidis.Lua, keys []string, args ...string) (rueidis.RedisMessage, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := l.Exec(ctx, s.c, keys, args).ToMessage()
	if err != nil && !rueidis.IsRedisNil(err) {
		return m, fail(what, err)
	}
	return m, err
}

// do runs one command; its error, if any, is wrapped by fail.
func (s *Store) do(what string, cmd rueidis.Completed) (rueidis.RedisMessage, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.c.Do(ctx, cmd).ToMessage()
	if err != nil && !rueidis.IsRedisNil(err) {
		return m, fail(what, err)
	}
	return m, err
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func fromMS(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(n)
}

func hexHash(h [32]byte) string { return hex.EncodeToString(h[:]) }

// newID returns a random URL-safe id of 128 bits.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// status reads the first element of a script's reply array, which names
// its outcome, and returns the array.
func status(m rueidis.RedisMessage) (string, []rueidis.RedisMessage, error) {
	arr, err := m.ToArray()
	if err != nil || len(arr) == 0 {
		return "", nil, errors.Join(errors.New("redisstore: malformed script reply"), err)
	}
	st, err := arr[0].ToString()
	return st, arr, err
}

// refusal returns the error errs maps a script's outcome to.
func refusal(errs map[string]error, outcome string) error {
	if err, ok := errs[outcome]; ok {
		return err
	}
	return fmt.Errorf("redisstore: unexpected script outcome %q", outcome)
}

// texts returns the replies as strings: nil ones empty, integers in
// decimal.
func texts(arr []rueidis.RedisMessage) []string {
	out := make([]string, len(arr))
	for i, m := range arr {
		if v, err := m.ToString(); err == nil {
			out[i] = v
		} else if n, err := m.ToInt64(); err == nil {
			out[i] = strconv.FormatInt(n, 10)
		}
	}
	return out
}

// readHashes runs list, which answers ids, and reads the hash key(id) of
// each in one pipeline, decoding it with read; a hash deleted meanwhile
// (read fails on it) is left out.
func readHashes[T any](s *Store, what string, list rueidis.Completed, key func(string) string, read func(rueidis.RedisMessage) (T, error)) ([]T, error) {
	m, err := s.do(what, list)
	if err != nil {
		return nil, err
	}
	ids, _ := m.AsStrSlice()
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = s.c.B().Hgetall().Key(key(id)).Build()
	}
	ctx, cancel := s.ctx()
	defer cancel()
	out := make([]T, 0, len(ids))
	for _, r := range s.c.DoMulti(ctx, cmds...) {
		m, err := r.ToMessage()
		if err != nil {
			return nil, fail(what, err)
		}
		if v, err := read(m); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}
