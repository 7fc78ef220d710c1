package main

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// The timeouts of the Redis client. A URL's dial_timeout and write_timeout
// parameters override the first two.
const (
	// redisDialTimeout bounds one connection attempt, and so how long a
	// start waits for a Redis that does not answer.
	redisDialTimeout = 3 * time.Second
	// redisReplyTimeout bounds how long a connection waits for the replies
	// of what it sent before it is closed as dead.
	redisReplyTimeout = 5 * time.Second
	// redisRetries bounds how often a read-only command that met a network
	// error is sent again; rueidis's own default retries until the
	// caller's context ends, forever for a context without a deadline.
	redisRetries = 2
	// redisRetryDelay is the wait before the first retry, doubled for the
	// next.
	redisRetryDelay = 50 * time.Millisecond
	// redisBlockingConns bounds the connections a node holds for
	// subscriptions and blocking commands: the topic bus keeps one per
	// partition (16), and a shared queue's blocking read waits on one of
	// the rest, so that consumers of many queues cannot make a node exhaust
	// Redis's maxclients (nor its own memory); past it, queues take turns,
	// each read blocking at most redisqueue's Block. Idle connections are
	// closed after redisBlockingIdle.
	redisBlockingConns = 32
	redisBlockingIdle  = 30 * time.Second
	// redisQueueReads is how many of them a node's shared queues use at
	// once (redisqueue's Options.Reads): 32 = 16 bus partitions, 1
	// revocation listener, 12 queue reads, and 3 for the blocking waits of
	// session listings (redissessions), which are short and rare.
	redisQueueReads = 12
)

// redisURLForms is how --redis is written, for its errors.
const redisURLForms = "redis://[user:pass@]host:port[/db], rediss://... for TLS, " +
	"or a Redis Cluster by seed addresses: redis://h1:p1?addr=h2:p2&addr=h3:p3"

// redisURLParams are the query parameters rueidis.ParseURL reads; any
// other is a typo that would otherwise be ignored.
var redisURLParams = []string{
	"addr", "db", "dial_timeout", "write_timeout", "skip_verify", "protocol",
	"client_cache", "max_retries", "client_name", "master_set",
}

// redisOptions parses a --redis URL into the client's options, with
// stompd's timeouts where the URL sets none. Errors are one line that
// names the setting and never show the password.
func redisOptions(raw string) (rueidis.ClientOption, error) {
	refuse := func(why string) error {
		return valueError{setting: "--redis", value: redactURL(raw), hint: why + "; want " + redisURLForms}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return rueidis.ClientOption{}, refuse("not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return rueidis.ClientOption{}, refuse(fmt.Sprintf("scheme %q is neither redis nor rediss", u.Scheme))
	}
	if u.Hostname() == "" || slices.Contains(u.Query()["addr"], "") {
		return rueidis.ClientOption{}, refuse("an address without a host")
	}
	for _, key := range slices.Sorted(maps.Keys(u.Query())) {
		if !slices.Contains(redisURLParams, key) {
			return rueidis.ClientOption{}, refuse(fmt.Sprintf("unknown parameter %q", key))
		}
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return rueidis.ClientOption{}, refuse(strings.TrimPrefix(err.Error(), "redis: "))
	}
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = redisDialTimeout
	}
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = redisReplyTimeout
	}
	opt.RetryDelay = retryDelay
	opt.BlockingPoolSize, opt.BlockingPoolCleanup = redisBlockingConns, redisBlockingIdle
	// stompd never reads through a client-side cache, so its connections
	// skip CLIENT TRACKING.
	opt.DisableCache = true
	return opt, nil
}

// newRedisClient connects to the Redis that --redis names: one server, or
// a Redis Cluster named by several seed addresses (rueidis tells them
// apart by itself). It fails, within about redisDialTimeout per seed
// address, when no Redis answers: a node does not start without the
// shared state. Errors name the URL without its password.
func newRedisClient(redisURL string) (rueidis.Client, error) {
	opt, err := redisOptions(redisURL)
	if err != nil {
		return nil, err
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %s: %w", redactURL(redisURL), connectFailure(err), err)
	}
	return c, nil
}

// connectFailure says why a first connection to Redis failed: Redis
// refused the credentials, or did not answer at all.
func connectFailure(err error) string {
	if m := err.Error(); strings.Contains(m, "NOAUTH") || strings.Contains(m, "WRONGPASS") {
		return "Redis refused the credentials"
	}
	return "Redis does not answer"
}

// retryDelay is the wait before retry number attempts (from 0) of a
// command, or -1 past redisRetries: a Redis that is down fails a command
// within a few connection attempts, however its caller waits.
func retryDelay(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts >= redisRetries {
		return -1
	}
	return redisRetryDelay << attempts
}

// redactURL is a --redis value fit for logs and errors: its password, if
// any, replaced. A value that does not parse loses everything between the
// scheme and the last @, where a password would be.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if at := strings.LastIndex(rest, "@"); ok && at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return raw
}

// pingRedis asks Redis for a PONG within timeout.
func pingRedis(ctx context.Context, c rueidis.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Do(ctx, c.B().Ping().Build()).Error()
}
