package auth

import (
	"crypto/subtle"
	"sync"
	"time"
)

// Ticket limits. Beyond maxTickets outstanding tickets, /auth/ticket
// answers 503 until some are used or expire; beyond its login's
// MaxTicketsPerLogin, or its user's MaxTicketsPerUser across all of the
// user's logins, 429.
const (
	maxTickets                = 100_000
	DefaultMaxTicketsPerLogin = 32
	DefaultMaxTicketsPerUser  = 128
)

// ticket is what a ticket's hash stands for.
type ticket struct {
	hash            [32]byte
	subject, sid    string
	jti             string
	issued, expires time.Time
}

// login names the login a ticket was issued for: its sid, or for a token
// issued elsewhere that names none, the token's jti.
func (t ticket) login() string {
	if t.sid != "" {
		return t.sid
	}
	return t.jti
}

// ticketStore holds outstanding tickets by their SHA-256, never the tickets
// themselves, and the expiries of each login's and each user's outstanding
// tickets, so that a login and a user hold at most their limit of them.
// Expired tickets are swept when a ticket is issued, at most once per
// ticket lifetime.
type ticketStore struct {
	mu        sync.Mutex
	m         map[[32]byte]ticket
	logins    holdings // by ticket.login()
	users     holdings // by subject
	nextSweep time.Time
}

func newTicketStore(perLogin, perUser int) *ticketStore {
	return &ticketStore{
		m:      make(map[[32]byte]ticket),
		logins: holdings{m: make(map[string][]time.Time), limit: perLogin, holder: "login"},
		users:  holdings{m: make(map[string][]time.Time), limit: perUser, holder: "user"},
	}
}

// issue returns a new ticket for the holder of c, valid for ttl but never
// beyond c.Expires. The login's and the user's limits are checked and the
// ticket counted against both in one step.
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
	if err := ts.logins.check(rec.login(), now); err != nil {
		return "", time.Time{}, err
	}
	if err := ts.users.check(rec.subject, now); err != nil {
		return "", time.Time{}, err
	}
	ts.logins.add(rec.login(), expires)
	ts.users.add(rec.subject, expires)
	ts.m[rec.hash] = rec
	return t, expires, nil
}

func (ts *ticketStore) sweep(now time.Time) {
	for h, t := range ts.m {
		if !now.Before(t.expires) {
			delete(ts.m, h)
		}
	}
	ts.logins.sweep(now)
	ts.users.sweep(now)
}

// forget removes a used ticket from its login's and its user's expiries.
func (ts *ticketStore) forget(t ticket) {
	ts.logins.forget(t.login(), t.expires)
	ts.users.forget(t.subject, t.expires)
}

// consume removes and returns the ticket t stands for. A ticket is found
// once at most: a second use finds nothing. The map is keyed by a hash, so
// its look-up reveals nothing about the ticket; the final comparison is
// constant-time all the same.
func (ts *ticketStore) consume(t string, now time.Time) (ticket, error) {
	h := hashToken(t)
	ts.mu.Lock()
	rec, ok := ts.m[h]
	if ok {
		delete(ts.m, h)
		ts.forget(rec)
	}
	ts.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(rec.hash[:], h[:]) != 1 {
		return ticket{}, ErrInvalidTicket.with(reasonUnknown, "invalid ticket: unknown or already used")
	}
	if !now.Before(rec.expires) {
		return ticket{}, ErrInvalidTicket.with(reasonExpired, "invalid ticket: expired")
	}
	return rec, nil
}
