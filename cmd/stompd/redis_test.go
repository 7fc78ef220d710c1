package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
)

// TestRedisURLForms checks that every form --help documents parses into
// the addresses rueidis connects to, with stompd's timeouts unless the
// URL sets its own.
func TestRedisURLForms(t *testing.T) {
	for _, tc := range []struct {
		url   string
		addrs []string
		tls   bool
		db    int
	}{
		{"redis://127.0.0.1:6379", []string{"127.0.0.1:6379"}, false, 0},
		{"redis://user:pass@redis.example:6380/2", []string{"redis.example:6380"}, false, 2},
		{"rediss://redis.example:6380", []string{"redis.example:6380"}, true, 0},
		{"redis://h1:7000?addr=h2:7001&addr=h3:7002", []string{"h1:7000", "h2:7001", "h3:7002"}, false, 0},
	} {
		opt, err := redisOptions(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if strings.Join(opt.InitAddress, ",") != strings.Join(tc.addrs, ",") || (opt.TLSConfig != nil) != tc.tls || opt.SelectDB != tc.db {
			t.Errorf("%s: addresses %v, TLS %v, db %d; want %v, %v, %d", tc.url, opt.InitAddress, opt.TLSConfig != nil, opt.SelectDB, tc.addrs, tc.tls, tc.db)
		}
		if opt.Dialer.Timeout != redisDialTimeout || opt.ConnWriteTimeout != redisReplyTimeout {
			t.Errorf("%s: timeouts %v and %v, want stompd's", tc.url, opt.Dialer.Timeout, opt.ConnWriteTimeout)
		}
	}
	opt, err := redisOptions("redis://h:1?dial_timeout=1s&write_timeout=2s")
	if err != nil || opt.Dialer.Timeout != time.Second || opt.ConnWriteTimeout != 2*time.Second {
		t.Errorf("the URL's own timeouts: %v, %v, %v", opt.Dialer.Timeout, opt.ConnWriteTimeout, err)
	}
}

// TestRedisURLErrorsHideThePassword checks that a refused --redis value is
// told without its password, whether or not it parses as a URL.
func TestRedisURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{"http://ada:s3cret@h:1", "redis://ada:s3cret@h:1?adr=h2:2", "redis://ada:s3cret@h:1/x/y", "redis://ada:s3cret@[::1"} {
		_, err := redisOptions(raw)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "--redis") {
			t.Errorf("%s: error %v; want one naming --redis without the password", raw, err)
		}
	}
}

// TestRedisCommandsAreCountedAndTimed sends commands through the client
// stompd builds and reads the Redis families: each command counted by
// result, each call timed except a blocking one.
func TestRedisCommandsAreCountedAndTimed(t *testing.T) {
	r := redistest.Start(t)
	m := metrics.New(prometheus.NewRegistry())
	rc, err := newRedisClient(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := instrumentRedis(rc, m)
	defer c.Close()
	ctx := context.Background()
	c.Do(ctx, c.B().Set().Key("stompd:test").Value("v").Build())
	c.Do(ctx, c.B().Get().Key("stompd:missing").Build()) // a nil reply is an answer
	c.Do(ctx, c.B().Incr().Key("stompd:test").Build())   // not an integer: an error reply
	c.DoMulti(ctx, c.B().Get().Key("stompd:test").Build(), c.B().Ping().Build())
	timed := histogramCount(t, m.RedisLatency)
	c.Do(ctx, c.B().Blpop().Key("stompd:empty").Timeout(0.05).Build())
	if got := histogramCount(t, m.RedisLatency); got != timed || timed != 4 {
		t.Errorf("latency observations: %d, then %d after a blocking BLPOP; want 4 and no more", timed, got)
	}
	for result, want := range map[string]float64{metrics.RedisOK: 5, metrics.RedisErrorReply: 1, metrics.RedisFailed: 0} {
		if got := testutil.ToFloat64(m.RedisCommands.WithLabelValues(result)); got != want {
			t.Errorf("commands with result %s: %v, want %v", result, got, want)
		}
	}
	r.Kill()
	c.Do(ctx, c.B().Get().Key("stompd:test").Build())
	if got := testutil.ToFloat64(m.RedisCommands.WithLabelValues(metrics.RedisFailed)); got != 1 {
		t.Errorf("commands failed with Redis down: %v, want 1", got)
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestReadinessFollowsRedis runs a node on a Redis that is killed and
// restarted: /readyz answers 503 while Redis is down and 200 again once it
// is back, by itself, and the node holds no more goroutines or heap after
// seconds of Redis being down than after the first.
func TestReadinessFollowsRedis(t *testing.T) {
	r := redistest.Start(t)
	ts := startServer(t, "--redis", r.URL())
	waitStatus(t, ts.url+"/readyz", 200)
	waitSample(t, ts, `stompd_redis_commands_total{result="ok"}`)
	wantReady(t, ts, "1")
	r.Kill()
	waitStatusWithin(t, ts.url+"/readyz", 503, 5*time.Second)
	wantReady(t, ts, "0")
	goroutines, heap := settledUsage()
	time.Sleep(5 * redisCheckEvery)
	if g, h := settledUsage(); g > goroutines+3 || h > heap+4<<20 {
		t.Errorf("while Redis was down for 5 s: goroutines %d -> %d, heap %d -> %d bytes", goroutines, g, heap, h)
	}
	if status(t, ts.url+"/healthz") != 200 {
		t.Error("/healthz: want 200 while Redis is down: the process lives")
	}
	r.Restart()
	waitStatusWithin(t, ts.url+"/readyz", 200, 5*time.Second)
	wantReady(t, ts, "1")
	waitSample(t, ts, `stompd_redis_commands_total{result="failed"}`)
}

// wantReady checks that stompd_ready shows what /readyz just answered.
func wantReady(t *testing.T, ts *testServer, want string) {
	t.Helper()
	if got := metricValue(t, ts, "stompd_ready"); got != want {
		t.Errorf("stompd_ready = %s, want %s", got, want)
	}
}

// waitStatusWithin waits for url to answer want, for at most within.
func waitStatusWithin(t testing.TB, url string, want int, within time.Duration) {
	t.Helper()
	waitUntil(t, within, fmt.Sprintf("answer %d from %s", want, url), func() bool { return status(t, url) == want })
}

// settledUsage is the process's goroutines and live heap after a
// collection.
func settledUsage() (goroutines int, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// waitSample waits for the series to count at least 1 on ts's /metrics
// page, such as the watch's PINGs, one a second.
func waitSample(t *testing.T, ts *testServer, series string) {
	t.Helper()
	waitUntil(t, 5*redisCheckEvery, series+" above 0", func() bool {
		v, _ := strconv.ParseFloat(metricValue(t, ts, series), 64)
		return v >= 1
	})
}

// TestRedisSettingFromEveryPlace checks that --redis is read from the
// flag, STOMPD_REDIS and the config file's redis key, as every setting is.
func TestRedisSettingFromEveryPlace(t *testing.T) {
	file := writeFile(t, "stompd.toml", `redis = "redis://file:6379"`)
	c, err := parseConfig([]string{"--config", file}, io.Discard)
	if err != nil || c.Redis != "redis://file:6379" {
		t.Errorf("from the file: %q, %v", c.Redis, err)
	}
	t.Setenv("STOMPD_REDIS", "redis://env:6379")
	if c, err = parseConfig([]string{"--config", file}, io.Discard); err != nil || c.Redis != "redis://env:6379" {
		t.Errorf("from the environment: %q, %v", c.Redis, err)
	}
	var help bytes.Buffer
	parseConfig([]string{"--help"}, &help)
	if !strings.Contains(help.String(), "?addr=h2:p2&addr=h3:p3") || !strings.Contains(help.String(), "rediss://") {
		t.Error("--help does not show the Redis Cluster and TLS forms of --redis")
	}
}

// TestNodeRunsOnARedisCluster starts a node on a 3-master Redis Cluster
// named by its seed addresses: the client finds the cluster by itself and
// the readiness watch's PINGs are answered.
func TestNodeRunsOnARedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	ts := startServer(t, "--redis", rc.URL())
	if mode := ts.redis.Mode(); mode != rueidis.ClientModeCluster {
		t.Errorf("client mode %q on a Redis Cluster, want %q", mode, rueidis.ClientModeCluster)
	}
	waitSample(t, ts, `stompd_redis_commands_total{result="ok"}`)
	waitStatus(t, ts.url+"/readyz", 200)
}
