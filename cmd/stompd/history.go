package main

import (
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/persist"
)

// On one node, the topic histories outlive a graceful restart: shutdown
// saves them in the store once the broker has stopped, and the next start
// takes them (reading and deleting them in one transaction), so that their
// epochs and offsets carry on. A process killed without a shutdown saves
// nothing, and the start after it finds nothing: its histories begin anew,
// with new epochs, as the clients that resume from them are told.

// takeHistories takes the histories the last graceful shutdown saved
// (with --history-size 0 too, which drops them). A saved history that
// cannot be read is a history lost: it is logged and left behind, and the
// next shutdown replaces it.
func (s *server) takeHistories() []broker.TopicHistory {
	if s.store == nil {
		return nil
	}
	saved, err := s.store.TakeHistories()
	if err != nil {
		s.log.Warn("topic histories saved at the last shutdown are lost", "err", err)
		return nil
	}
	if s.cfg.Broker.HistorySize == 0 {
		return nil
	}
	hs := make([]broker.TopicHistory, len(saved))
	for i, h := range saved {
		hs[i] = broker.TopicHistory{Dest: h.Dest, Epoch: h.Epoch, Last: h.Last, Entries: make([]broker.StreamEntry, len(h.Entries))}
		for j, e := range h.Entries {
			hs[i].Entries[j] = broker.StreamEntry{Offset: e.Offset, At: e.At, Msg: e.Msg}
		}
	}
	return hs
}

// saveHistories saves the histories of the broker, which has shut down.
func (s *server) saveHistories() {
	if s.store == nil || s.cfg.Broker.HistorySize == 0 {
		return
	}
	hs := s.broker.Histories()
	saved := make([]persist.History, len(hs))
	for i, h := range hs {
		saved[i] = persist.History{Dest: h.Dest, Epoch: h.Epoch, Last: h.Last, Entries: make([]persist.HistoryEntry, len(h.Entries))}
		for j, e := range h.Entries {
			saved[i].Entries[j] = persist.HistoryEntry{Offset: e.Offset, At: e.At, Msg: e.Msg}
		}
	}
	if err := s.store.SaveHistories(saved); err != nil {
		s.log.Warn("saving the topic histories failed: the next start begins them anew", "err", err)
		return
	}
	s.log.Info("topic histories saved", "topics", len(saved))
}
