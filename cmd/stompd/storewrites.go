package main

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// cannotSaveReady is what /readyz answers, with 200, while the store
// cannot write: the node still serves what needs no write (verifying
// access tokens, tickets, CONNECT, live sessions, topics and queues that
// are not persistent), and taking it out of a balancer would end those too.
const cannotSaveReady = "ok, degraded: the store cannot write its file (is the data dir's disk full?); " +
	"logins, refreshes, logouts, user changes and persistent SENDs fail until it can\n"

// storeRecovery is how long the store's commits must go without a failure,
// and with room on the disk (roomToWrite), before it counts as writing
// again.
const storeRecovery = time.Second

// observeStore returns the OnWrite of the store in dir: it keeps
// cannotSave, which /readyz shows, and logs the first failed commit of an
// outage and the end of it, once each, rather than every request that
// fails meanwhile (those answer 503 unavailable, counted in
// stompd_auth_failures_total{reason="unavailable"}, or, for persistent
// SENDs, stompd_journal_errors_total and an ERROR frame). The outage ends
// with a commit that succeeds storeRecovery after the last failure, on a
// file system with room again: a commit that fits in the free pages of a
// full disk's store does not end it.
func (h *health) observeStore(log *slog.Logger, dir string) func(error) {
	var lastFailure atomic.Int64 // unix nanoseconds
	return func(err error) {
		now := time.Now()
		switch {
		case err != nil:
			lastFailure.Store(now.UnixNano())
			if h.cannotSave.CompareAndSwap(false, true) {
				log.Error("the store cannot write its file (is the data dir's disk full?): logins, refreshes, logouts, user changes and persistent SENDs fail until it can; reads, tickets and live sessions go on",
					"err", err)
			}
		case h.cannotSave.Load() && now.Sub(time.Unix(0, lastFailure.Load())) >= storeRecovery && roomToWrite(dir) &&
			h.cannotSave.CompareAndSwap(true, false):
			log.Info("the store writes again", "without_failure_for", storeRecovery)
		}
	}
}
