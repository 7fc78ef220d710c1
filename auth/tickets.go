package auth

import (
	"crypto/subtle"
	"sync"
	"time"
)

// maxTickets bounds the tickets outstanding at once; beyond it /auth/ticket
// answers 503 until some are used or expire.
const maxTickets = 100_000

// ticket is what a ticket's hash stands for.
type ticket struct {
	hash            [32]byte
	subject, sid    string
	jti             string
	issued, expires time.Time
}

// ticketStore holds outstanding tickets by their SHA-256, never the tickets
// themselves. Expired tickets are swept when a ticket is issued, at most
// once per ticket lifetime.
type ticketStore struct {
	mu        sync.Mutex
	m         map[[32]byte]ticket
	nextSweep time.Time
}

func newTicketStore() *ticketStore {
	return &ticketStore{m: make(map[[32]byte]ticket)}
}

// issue returns a new ticket for the holder of c, valid for ttl but never
// beyond c.Expires.
func (ts *ticketStore) issue(c Claims, ttl time.Duration, now time.Time) (string, time.Time, error) {
	t := randomToken(opaqueBytes)
	expires := now.Add(ttl)
	if c.Expires.Before(expires) {
		expires = c.Expires
	}
	rec := ticket{hash: hashToken(t), subject: c.Subject, sid: c.SID, jti: c.ID, issued: now, expires: expires}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !now.Before(ts.nextSweep) || len(ts.m) >= maxTickets {
		ts.sweep(now)
		ts.nextSweep = now.Add(ttl)
	}
	if len(ts.m) >= maxTickets {
		return "", time.Time{}, ErrBusy
	}
	ts.m[rec.hash] = rec
	return t, expires, nil
}

func (ts *ticketStore) sweep(now time.Time) {
	for h, t := range ts.m {
		if !now.Before(t.expires) {
			delete(ts.m, h)
		}
	}
}

// consume removes and returns the ticket t stands for. A ticket is found
// once at most: a second use finds nothing. The map is keyed by a hash, so
// its look-up reveals nothing about the ticket; the final comparison is
// constant-time all the same.
func (ts *ticketStore) consume(t string, now time.Time) (ticket, error) {
	h := hashToken(t)
	ts.mu.Lock()
	rec, ok := ts.m[h]
	delete(ts.m, h)
	ts.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(rec.hash[:], h[:]) != 1 {
		return ticket{}, ErrInvalidTicket.with(reasonUnknown, "invalid ticket: unknown or already used")
	}
	if !now.Before(rec.expires) {
		return ticket{}, ErrInvalidTicket.with(reasonExpired, "invalid ticket: expired")
	}
	return rec, nil
}
