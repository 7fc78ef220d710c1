package auth

import (
	"crypto/subtle"
	"slices"
	"sync"
	"time"
)

// Ticket limits. Beyond maxTickets outstanding tickets, /auth/ticket
// answers 503 until some are used or expire; beyond its login's
// MaxTicketsPerLogin, 429.
const (
	maxTickets                = 100_000
	DefaultMaxTicketsPerLogin = 32
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
// themselves, and the expiries of each login's outstanding tickets, so that
// a login holds at most perLogin of them. Expired tickets are swept when a
// ticket is issued, at most once per ticket lifetime.
type ticketStore struct {
	mu        sync.Mutex
	m         map[[32]byte]ticket
	logins    map[string][]time.Time
	perLogin  int
	nextSweep time.Time
}

func newTicketStore(perLogin int) *ticketStore {
	return &ticketStore{m: make(map[[32]byte]ticket), logins: make(map[string][]time.Time), perLogin: perLogin}
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
	held := ts.held(rec.login(), now)
	if len(held) >= ts.perLogin {
		e := ErrTooManyTickets.with(reasonLimit, "too many outstanding tickets for this login: use one or wait until one expires")
		e.retry = slices.MinFunc(held, time.Time.Compare).Sub(now)
		return "", time.Time{}, e
	}
	ts.logins[rec.login()] = append(held, expires)
	ts.m[rec.hash] = rec
	return t, expires, nil
}

// held returns the expiries of login's tickets that are still valid,
// forgetting the others.
func (ts *ticketStore) held(login string, now time.Time) []time.Time {
	held := slices.DeleteFunc(ts.logins[login], func(exp time.Time) bool { return !now.Before(exp) })
	if len(held) == 0 {
		delete(ts.logins, login)
		return nil
	}
	ts.logins[login] = held
	return held
}

func (ts *ticketStore) sweep(now time.Time) {
	for h, t := range ts.m {
		if !now.Before(t.expires) {
			delete(ts.m, h)
		}
	}
	for login := range ts.logins {
		ts.held(login, now)
	}
}

// forget removes a used ticket from its login's expiries.
func (ts *ticketStore) forget(t ticket) {
	held := ts.logins[t.login()]
	switch i := slices.IndexFunc(held, t.expires.Equal); {
	case i < 0:
	case len(held) == 1:
		delete(ts.logins, t.login())
	default:
		ts.logins[t.login()] = slices.Delete(held, i, i+1)
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
