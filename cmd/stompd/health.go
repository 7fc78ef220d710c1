package main

import (
	"net/http"
	"sync/atomic"
)

// health answers /healthz as soon as the process serves HTTP, and /readyz
// only while ready is true: once the store is open and both listeners
// accept, until shutdown starts.
type health struct {
	ready atomic.Bool
}

func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (h *health) readiness(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	h.live(w, r)
}
