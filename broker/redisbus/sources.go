package redisbus

import (
	"strconv"
	"strings"
	"sync"
)

// An Append whose script failed is delivered to this node's subscribers at
// once, without an offset. But a script whose reply was lost (Redis killed,
// or the connection broken, after it was sent) may have run: the messages
// are then in the stream too, and reach this node numbered, live or by a
// catch-up, which would deliver them twice here. So the writer gives each
// Append a number of its own, its source, which the script keeps in the
// stream (field s) and publishes with the message, "<source> <node id>".
// A numbered message of this node's that it delivered locally after a
// failure is passed over (its offset still counts as received), and one of
// the batch in flight, or of the one before, that arrives numbered before
// the failure is known is not delivered locally again. The batch before
// counts too since a script that ran may not have reached this node: Redis
// killed after replying to the writer, before pushing the message to this
// node's subscribing connection.

// maxUnsure bounds the sources remembered as delivered locally after a
// failure; past it they are forgotten, all at once.
const maxUnsure = 1 << 16

// sources is what a Bus knows of its Appends' sources.
type sources struct {
	next uint64 // the latest source given; the writer's only

	mu       sync.Mutex
	lo, hi   uint64              // the sources of the batch in flight and the one before, when hi >= lo > 0
	received map[uint64]struct{} // of those, the ones received numbered
	unsure   map[uint64]struct{} // delivered locally after a failure, perhaps kept too
}

// give returns the next source.
func (s *sources) give() uint64 {
	s.next++
	return s.next
}

// sending records that the sources lo to hi, of the batch in flight and
// the one before, may not have reached this node yet.
func (s *sources) sending(lo, hi uint64) {
	s.mu.Lock()
	s.lo, s.hi = lo, hi
	for src := range s.received {
		if src < lo {
			delete(s.received, src)
		}
	}
	s.mu.Unlock()
}

// failed reports whether the Append of source src, in a batch that failed
// or the one before, is to be delivered locally: not when it was received
// numbered already.
// Otherwise src is remembered as delivered so.
func (s *sources) failed(src uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, has := s.received[src]; has {
		return false
	}
	if s.unsure == nil || len(s.unsure) >= maxUnsure {
		s.unsure = make(map[uint64]struct{})
	}
	s.unsure[src] = struct{}{}
	return true
}

// arrived reports whether a numbered message of this node's, of source
// src, is to be delivered: not when it was delivered locally after a
// failure.
func (s *sources) arrived(src uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, has := s.unsure[src]; has {
		delete(s.unsure, src)
		return false
	}
	if src >= s.lo && src <= s.hi && s.lo > 0 {
		if s.received == nil {
			s.received = make(map[uint64]struct{})
		}
		s.received[src] = struct{}{}
	}
	return true
}

// deliverable reports whether a numbered message of source src, as the
// script wrote it ("<source> <node id>"), is to be delivered on this node:
// not one of its own that it delivered from the outbox already (its source
// ends with "l", outbox.go).
func (b *Bus) deliverable(src string) bool {
	n, node, ok := strings.Cut(src, " ")
	if !ok || node != b.node {
		return true
	}
	if strings.HasSuffix(n, "l") {
		return false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return err != nil || b.sources.arrived(seq)
}
