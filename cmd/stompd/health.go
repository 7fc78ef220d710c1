package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// redisCheckEvery is how often a node with --redis asks Redis for a PING;
// each PING may take as long, so /readyz follows Redis within about two
// of these.
const redisCheckEvery = time.Second

// health answers /healthz as soon as the process serves HTTP, and /readyz
// only while ready is true (once the store is open and both listeners
// accept, until shutdown starts) and, with --redis, Redis answers; while
// the store cannot write, /readyz still answers 200 but says it is
// degraded (cannotSaveReady). The gauge, when set, shows readiness as
// stompd_ready.
type health struct {
	ready      atomic.Bool
	redisDown  atomic.Bool // set by watchRedis while Redis does not answer
	cannotSave atomic.Bool // set while the store's commits fail (observeStore)
	gauge      prometheus.Gauge
}

// setReady turns readiness on or off.
func (h *health) setReady(ready bool) {
	h.ready.Store(ready)
	h.show()
}

// show sets the gauge to what /readyz answers. Two changes racing may
// leave it stale until the next: watchRedis shows it again on every tick.
func (h *health) show() {
	if h.gauge == nil {
		return
	}
	v := 0.0
	if h.ready.Load() && !h.redisDown.Load() {
		v = 1
	}
	h.gauge.Set(v)
}

func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *health) readiness(w http.ResponseWriter, r *http.Request) {
	switch {
	case !h.ready.Load():
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	case h.redisDown.Load():
		http.Error(w, "not ready: Redis does not answer", http.StatusServiceUnavailable)
	case h.cannotSave.Load():
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(cannotSaveReady))
	default:
		h.live(w, r)
	}
}

// watchRedis pings Redis every redisCheckEvery until ctx is done, keeping
// redisDown and logging each change. One PING is in flight at a time, so
// a Redis that is down costs one connection attempt per tick and nothing
// that accumulates.
func (h *health) watchRedis(ctx context.Context, c rueidis.Client, log *slog.Logger) {
	t := time.NewTicker(redisCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := pingRedis(ctx, c, redisCheckEvery)
		if ctx.Err() != nil {
			return
		}
		switch down := err != nil; {
		case down && !h.redisDown.Swap(true):
			log.Warn("Redis does not answer: /readyz answers 503 until it does", "err", err)
		case !down && h.redisDown.Swap(false):
			log.Info("Redis answers again: ready")
		}
		h.show()
	}
}
