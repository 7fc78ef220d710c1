package main

import (
	"errors"

	"github.com/stompd/stompd/persist"
)

// openJournal opens the journal of persistent queue messages in the bbolt
// store; with --redis there is none (queues live in Redis).
func (s *server) openJournal() error {
	if s.store == nil {
		return nil
	}
	j, err := s.store.Journal(persist.JournalOptions{OnCommit: s.observeJournal})
	s.journal = j
	return err
}

// observeJournal counts one journal transaction.
func (s *server) observeJournal(c persist.JournalCommit) {
	if c.Err != nil {
		s.metrics.JournalErrors.Inc()
		if !errors.Is(c.Err, persist.ErrWrite) { // observeStore logs those once
			s.log.Warn("journal commit failed", "appended", c.Appended, "removed", c.Removed, "error", c.Err)
		}
		return
	}
	s.metrics.JournalCommits.Inc()
	s.metrics.JournalCommitMessages.Observe(float64(c.Appended + c.Removed))
}
