package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/metrics"
)

// redisMetrics is a rueidis.Client that counts every command by result in
// stompd_redis_commands_total and times every call in
// stompd_redis_latency_seconds, except calls that wait for data by design
// (blocking commands such as XREADGROUP BLOCK, and subscriptions), which
// would fill the histogram with their wait. The counters are resolved
// once; a call costs two atomic adds and a histogram observation.
//
// Do and DoMulti are counted: what stompd sends but for its subscriptions,
// which run on dedicated connections (Dedicate) and are not counted, nor
// is anything sent through Nodes or as streams; stompd reads through no
// client-side cache.
type redisMetrics struct {
	rueidis.Client
	results map[string]prometheus.Counter // by metrics.Redis* result
	latency prometheus.Histogram
}

// instrumentRedis wraps c so that what goes through it is counted in m.
func instrumentRedis(c rueidis.Client, m *metrics.Set) rueidis.Client {
	r := &redisMetrics{Client: c, results: map[string]prometheus.Counter{}, latency: m.RedisLatency}
	for _, res := range metrics.RedisResults {
		r.results[res] = m.RedisCommands.WithLabelValues(res)
	}
	return r
}

// redisResult sorts the outcome of one command into a metrics.Redis*
// value: a nil reply is an answer like any other.
func redisResult(err error) string {
	switch _, isReply := rueidis.IsRedisErr(err); {
	case err == nil || rueidis.IsRedisNil(err):
		return metrics.RedisOK
	case isReply:
		return metrics.RedisErrorReply
	}
	return metrics.RedisFailed
}

func (r *redisMetrics) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	timed := !cmd.IsBlock()
	start := time.Now()
	resp := r.Client.Do(ctx, cmd)
	r.observe(start, timed, resp.Error())
	return resp
}

func (r *redisMetrics) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	timed := true
	for i := range multi {
		timed = timed && !multi[i].IsBlock()
	}
	start := time.Now()
	resps := r.Client.DoMulti(ctx, multi...)
	r.count(resps)
	if timed {
		r.latency.Observe(time.Since(start).Seconds())
	}
	return resps
}

func (r *redisMetrics) observe(start time.Time, timed bool, err error) {
	if timed {
		r.latency.Observe(time.Since(start).Seconds())
	}
	r.results[redisResult(err)].Inc()
}

func (r *redisMetrics) count(resps []rueidis.RedisResult) {
	for i := range resps {
		r.results[redisResult(resps[i].Error())].Inc()
	}
}
