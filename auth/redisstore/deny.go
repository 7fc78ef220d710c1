package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Denials are the sorted set denied (id by when its denial ends, in
// milliseconds) in the {auth} slot, so that revoking a family and denying
// its sid are one script; each new or extended denial is published on the
// channel stompd:auth:denials as "<until ms>:<id>".

var denyID = rueidis.NewLuaScript(luaCommon + `
P, NOW = ARGV[1], tonumber(ARGV[2])
deny(ARGV[3], ARGV[4])
return 1
`)

// Deny denies id until until, keeping the later of two times, and
// publishes the denial to every node, in one step.
func (s *Store) Deny(id string, until time.Time) error {
	_, err := s.script("denying", denyID, []string{deniedKey}, authTag, ms(s.opts.Now()), id, ms(until))
	return err
}

// Denied returns the denials still in force.
func (s *Store) Denied() (map[string]time.Time, error) {
	m, err := s.do("reading denials", s.c.B().Zrange().Key(deniedKey).Min("("+strconv.FormatInt(s.nowMS(), 10)).Max("+inf").Byscore().Withscores().Build())
	if err != nil {
		return nil, err
	}
	scores, err := m.AsZScores()
	if err != nil {
		return nil, fail("reading denials", err)
	}
	out := make(map[string]time.Time, len(scores))
	for _, z := range scores {
		out[z.Member] = time.UnixMilli(int64(z.Score))
	}
	return out, nil
}

// Watch backoff: the first retry after losing Redis, and the longest wait.
const (
	watchRetry    = 100 * time.Millisecond
	watchMaxRetry = 2 * time.Second
)

// WatchDenials calls fn with every denial made on any node (including
// this one's own) until ctx ends, and returns then. It subscribes to the
// denials channel and, once subscribed, reads every denial in force, after
// the first connection and after each reconnection, so that a denial made
// while it was cut off from Redis is applied as soon as Redis is back. fn
// must be safe for concurrent use and must not block for long
// (auth.Service.TakeDenial fits). While Redis is unreachable it retries
// every 100 ms to 2 s, holding nothing that grows.
func (s *Store) WatchDenials(ctx context.Context, fn func(id string, until time.Time)) {
	wait := watchRetry
	for ctx.Err() == nil {
		err := s.watchOnce(ctx, fn, func() { wait = watchRetry })
		if ctx.Err() != nil {
			return
		}
		s.opts.Logger.Warn("denial watch lost Redis; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, watchMaxRetry)
	}
}

// watchOnce subscribes on a dedicated connection, calls subscribed, applies
// every denial in force, then every published one until the connection
// fails or ctx ends.
func (s *Store) watchOnce(ctx context.Context, fn func(string, time.Time), subscribed func()) error {
	c, release := s.c.Dedicate()
	defer release()
	lost := c.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: func(m rueidis.PubSubMessage) {
		if id, until, ok := parseDenial(m.Message); ok {
			fn(id, until)
		}
	}})
	sctx, cancel := s.ctx()
	err := c.Do(sctx, c.B().Subscribe().Channel(denyChannel).Build()).Error()
	cancel()
	if err != nil {
		return err
	}
	subscribed()
	denied, err := s.Denied()
	if err != nil {
		return err
	}
	for id, until := range denied {
		fn(id, until)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-lost:
		return errors.Join(errors.New("subscription ended"), err)
	}
}

// parseDenial reads "<until ms>:<id>".
func parseDenial(msg string) (string, time.Time, bool) {
	t, id, ok := strings.Cut(msg, ":")
	n, err := strconv.ParseInt(t, 10, 64)
	if !ok || err != nil || id == "" {
		return "", time.Time{}, false
	}
	return id, time.UnixMilli(n), true
}
