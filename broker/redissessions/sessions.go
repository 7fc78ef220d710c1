package redissessions

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// The channel requests travel on, and the prefix of the lists answers are
// pushed to; one hash tag, so that both live in one slot of a Redis
// Cluster.
const (
	askChannel  = "stompd:{sessions}:ask"
	replyPrefix = "stompd:{sessions}:reply:"
)

// DefaultWait is how long List waits for the other nodes by default.
const DefaultWait = 2 * time.Second

// commandTimeout bounds a round trip to Redis.
const commandTimeout = 5 * time.Second

// queueSize bounds the requests a node has yet to answer.
const queueSize = 16

// ErrUnavailable is what List's error wraps when it cannot ask the other
// nodes.
var ErrUnavailable = errors.New("redissessions: Redis unavailable")

// Options configures Sessions. The zero value of every field but Node and
// Nodes means the default documented next to it.
type Options struct {
	Node string // this node's id
	// Nodes returns the ids of the live nodes, as the membership knows
	// them ((*redisbus.Members).Nodes).
	Nodes  func() []string
	Wait   time.Duration // how long List waits for the other nodes, DefaultWait
	Logger *slog.Logger  // nil: discard
}

// Lister lists the sessions of one node: a *broker.Broker.
type Lister interface {
	Sessions(q broker.SessionQuery) ([]broker.Session, int)
}

// Row is a session and the node it is connected to.
type Row struct {
	Node string
	broker.Session
}

// Listing is the sessions of a cluster, as List returns them.
type Listing struct {
	Sessions []Row
	Total    int      // sessions selected on the nodes that answered, more than len(Sessions) when the limit cut the list
	Nodes    []string // the nodes that answered, this one included, sorted
	Missing  []string // the live nodes that did not answer within the wait, sorted
}

// Sessions asks the nodes of a cluster for their sessions and answers
// their requests.
type Sessions struct {
	client rueidis.Client
	o      Options
}

// New returns the sessions engine of node o.Node on client, which the
// caller owns.
func New(client rueidis.Client, o Options) *Sessions {
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Sessions{client: client, o: o}
}

// request is what an asker publishes.
type request struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	Subject string `json:"subject,omitempty"`
	Limit   int    `json:"limit,omitempty"`
	WaitMS  int64  `json:"wait_ms"`
}

// answer is what a node pushes to a request's list.
type answer struct {
	Node     string           `json:"node"`
	Sessions []broker.Session `json:"sessions"`
	Total    int              `json:"total"`
}

// List returns the sessions q selects on every node: this one's from l,
// the others' as they answer within Options.Wait (see the package doc).
func (s *Sessions) List(ctx context.Context, l Lister, q broker.SessionQuery) (Listing, error) {
	own, total := l.Sessions(q)
	answers := map[string]answer{s.o.Node: {Node: s.o.Node, Sessions: own, Total: total}}
	expected := slices.DeleteFunc(s.o.Nodes(), func(n string) bool { return n == s.o.Node })
	req := request{ID: newID(), From: s.o.Node, Subject: q.Subject, Limit: q.Limit, WaitMS: s.o.Wait.Milliseconds()}
	if err := s.ask(ctx, req); err != nil {
		return Listing{}, fmt.Errorf("%w: asking the other nodes: %v", ErrUnavailable, err)
	}
	s.collect(ctx, replyPrefix+req.ID, expected, answers)
	return merge(answers, expected, q.Limit), nil
}

// newID returns a random request id.
func newID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails: crypto/rand panics instead of returning an error
	return hex.EncodeToString(b)
}

// ask publishes req.
func (s *Sessions) ask(ctx context.Context, req request) error {
	msg, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return s.client.Do(ctx, s.client.B().Spublish().Channel(askChannel).Message(string(msg)).Build()).Error()
}

// collect pops the answers pushed to key into answers until every node
// expected has answered or Options.Wait has passed, then deletes key.
func (s *Sessions) collect(ctx context.Context, key string, expected []string, answers map[string]answer) {
	defer s.discard(key)
	deadline := time.Now().Add(s.o.Wait)
	for pending(expected, answers) {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		a, err := s.pop(ctx, key, left)
		switch {
		case rueidis.IsRedisNil(err):
			return
		case err != nil:
			s.o.Logger.Warn("redissessions: reading the nodes' answers failed", "err", err)
			return
		}
		if _, dup := answers[a.Node]; !dup {
			answers[a.Node] = a
		}
	}
}

// pending reports whether a node expected has not answered.
func pending(expected []string, answers map[string]answer) bool {
	return slices.ContainsFunc(expected, func(n string) bool {
		_, ok := answers[n]
		return !ok
	})
}

// pop waits at most left for the next answer pushed to key. It skips
// answers it cannot read, and returns a Redis nil error when none came.
func (s *Sessions) pop(ctx context.Context, key string, left time.Duration) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, left+commandTimeout)
	defer cancel()
	for {
		secs := max(left, time.Millisecond).Seconds()
		kv, err := s.client.Do(ctx, s.client.B().Blpop().Key(key).Timeout(secs).Build()).AsStrSlice()
		if err != nil {
			return answer{}, err
		}
		var a answer
		if len(kv) == 2 && json.Unmarshal([]byte(kv[1]), &a) == nil && a.Node != "" {
			return a, nil
		}
		s.o.Logger.Warn("redissessions: malformed answer", "key", key)
	}
}

// discard deletes a request's list once its asker is done with it.
func (s *Sessions) discard(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := s.client.Do(ctx, s.client.B().Del().Key(key).Build()).Error(); err != nil {
		s.o.Logger.Debug("redissessions: deleting an answer list failed", "key", key, "err", err)
	}
}

// merge builds the Listing of answers: their sessions in order, cut to
// limit (0: no limit), and the nodes expected that did not answer.
func merge(answers map[string]answer, expected []string, limit int) Listing {
	var l Listing
	for node, a := range answers {
		l.Nodes = append(l.Nodes, node)
		l.Total += a.Total
		for _, s := range a.Sessions {
			l.Sessions = append(l.Sessions, Row{Node: node, Session: s})
		}
	}
	for _, n := range expected {
		if _, ok := answers[n]; !ok {
			l.Missing = append(l.Missing, n)
		}
	}
	slices.SortFunc(l.Sessions, func(a, b Row) int {
		return cmp.Or(broker.CompareSessions(a.Session, b.Session), cmp.Compare(a.Node, b.Node))
	})
	if limit > 0 && len(l.Sessions) > limit {
		l.Sessions = l.Sessions[:limit]
	}
	slices.Sort(l.Nodes)
	slices.Sort(l.Missing)
	return l
}

// reply pushes a node's answer to a request's list, and has the list
// expire, in one step.
var reply = rueidis.NewLuaScript(`
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Run answers the other nodes' requests with l's sessions until ctx is
// done.
func (s *Sessions) Run(ctx context.Context, l Lister) {
	queue := make(chan request, queueSize)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for req := range queue {
			s.answer(ctx, l, req)
		}
	}()
	s.follow(ctx, queue)
	close(queue)
	<-done
}

// follow queues the requests of other nodes until ctx is done, following
// the channel again after a lost connection.
func (s *Sessions) follow(ctx context.Context, queue chan<- request) {
	cmd := s.client.B().Ssubscribe().Channel(askChannel).Build()
	backoff := time.Duration(0)
	for {
		err := s.client.Receive(ctx, cmd, func(m rueidis.PubSubMessage) { s.take(m.Message, queue) })
		if ctx.Err() != nil {
			return
		}
		s.o.Logger.Warn("redissessions: following session requests failed", "err", err)
		backoff = min(max(2*backoff, 100*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// take queues a request of another node, without blocking the client's
// pipeline, which calls it.
func (s *Sessions) take(msg string, queue chan<- request) {
	var req request
	if err := json.Unmarshal([]byte(msg), &req); err != nil || req.ID == "" {
		s.o.Logger.Warn("redissessions: malformed request")
		return
	}
	if req.From == s.o.Node {
		return
	}
	select {
	case queue <- req:
	default:
		s.o.Logger.Warn("redissessions: too many requests; one left unanswered", "from", req.From)
	}
}

// answer pushes l's sessions for req to req's list.
func (s *Sessions) answer(ctx context.Context, l Lister, req request) {
	sessions, total := l.Sessions(broker.SessionQuery{Subject: req.Subject, Limit: req.Limit})
	msg, err := json.Marshal(answer{Node: s.o.Node, Sessions: sessions, Total: total})
	if err != nil {
		s.o.Logger.Error("redissessions: encoding an answer", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	ttl := strconv.FormatInt(max(req.WaitMS, 0)+time.Second.Milliseconds(), 10)
	if err := reply.Exec(ctx, s.client, []string{replyPrefix + req.ID}, []string{string(msg), ttl}).Error(); err != nil {
		s.o.Logger.Warn("redissessions: answering a request failed", "from", req.From, "err", err)
	}
}
