package redisbus

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// membersKey is the sorted set of the nodes, each scored with the Redis
// time of its last heartbeat in milliseconds.
const membersKey = "stompd:nodes"

// MembersOptions configures Members. The zero value of every field but
// Node means the default documented next to it.
type MembersOptions struct {
	Node     string        // this node's id
	Interval time.Duration // between heartbeats, 2 s
	Timeout  time.Duration // a node is dead this long after its last heartbeat, 10 s
	Logger   *slog.Logger  // nil: discard
	// OnLive, if set, is called after every heartbeat with Live's answer,
	// for a gauge of the live nodes.
	OnLive func(live int)
}

// Defaults of MembersOptions.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// heartbeat records the node's heartbeat with Redis's own clock, so that
// nodes' clocks need not agree, forgets nodes dead for longer than the
// timeout, and returns Redis's time and the nodes left with their scores.
var heartbeat = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`)

// Members is cluster membership: every node heartbeats its id in
// stompd:nodes, and learns from the reply which nodes are alive. Alive and
// Live answer from the last reply, without a round trip. Its methods are
// safe for concurrent use; Run does the heartbeats.
type Members struct {
	client rueidis.Client
	o      MembersOptions

	mu      sync.Mutex
	fetched time.Time                // when the last reply came (local, monotonic)
	ages    map[string]time.Duration // each live node's time since its heartbeat, at fetched
}

// NewMembers returns the membership of node o.Node through client, which
// the caller owns.
func NewMembers(client rueidis.Client, o MembersOptions) *Members {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Members{client: client, o: o}
}

// Run heartbeats every Interval until ctx is done, then removes the node
// from stompd:nodes, so that the other nodes count it gone at once rather
// than after the timeout.
func (m *Members) Run(ctx context.Context) {
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	for {
		if err := m.beat(ctx); err != nil && ctx.Err() == nil {
			m.o.Logger.Warn("redisbus: heartbeat failed", "err", err)
		}
		if m.o.OnLive != nil {
			m.o.OnLive(m.Live())
		}
		select {
		case <-ctx.Done():
			m.leave()
			return
		case <-t.C:
		}
	}
}

// leave removes the node from stompd:nodes, within commandTimeout: Run's
// context is done by then. If it fails, the others forget the node after
// the timeout.
func (m *Members) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := m.client.B().Zrem().Key(membersKey).Member(m.o.Node).Build()
	if err := m.client.Do(ctx, cmd).Error(); err != nil {
		m.o.Logger.Warn("redisbus: leaving the cluster failed", "err", err)
	}
}

// beat sends one heartbeat and keeps what its reply says.
func (m *Members) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(m.o.Interval, commandTimeout))
	defer cancel()
	reply, err := heartbeat.Exec(ctx, m.client, []string{membersKey},
		[]string{m.o.Node, strconv.FormatInt(m.o.Timeout.Milliseconds(), 10)}).ToArray()
	if err != nil {
		return err
	}
	if len(reply) != 2 {
		return errReply
	}
	now, err := reply[0].AsInt64()
	if err != nil {
		return err
	}
	scores, err := reply[1].AsStrSlice()
	if err != nil {
		return err
	}
	ages := make(map[string]time.Duration, len(scores)/2)
	for i := 0; i+1 < len(scores); i += 2 {
		at, err := strconv.ParseFloat(scores[i+1], 64)
		if err != nil {
			return err
		}
		ages[scores[i]] = time.Duration(float64(now)-at) * time.Millisecond
	}
	m.mu.Lock()
	m.fetched, m.ages = time.Now(), ages
	m.mu.Unlock()
	return nil
}

// Alive reports whether node heartbeated within the timeout. When this
// node has not heard from Redis within the timeout itself (Redis
// unreachable, or Run not started), it cannot tell, and answers true, so
// that nothing of a node is taken over on a guess.
func (m *Members) Alive(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	since := time.Since(m.fetched)
	if m.fetched.IsZero() || since >= m.o.Timeout {
		return true
	}
	age, ok := m.ages[node]
	return ok && age+since < m.o.Timeout
}

// Live returns how many nodes heartbeated within the timeout, as far as
// this node knows: 0 when it has not heard from Redis within it.
func (m *Members) Live() int { return len(m.Nodes()) }

// Nodes returns the ids of the nodes that heartbeated within the timeout,
// as far as this node knows, in no particular order: none when it has not
// heard from Redis within it.
func (m *Members) Nodes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	since := time.Since(m.fetched)
	var nodes []string
	for node, age := range m.ages {
		if age+since < m.o.Timeout {
			nodes = append(nodes, node)
		}
	}
	return nodes
}
