package auth

import (
	"crypto/subtle"
	"errors"
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

// ticketStore is the TicketStore of one process: outstanding tickets by
// their SHA-256, never the tickets themselves, and the expiries of each
// login's and each user's outstanding tickets, so that a login and a user
// hold at most their limit of them. Expired tickets are swept when a
// ticket is added, at most once per ticket lifetime.
type ticketStore struct {
	mu        sync.Mutex
	m         map[[32]byte]Ticket
	logins    holdings // by Ticket.Login()
	users     holdings // by Subject
	nextSweep time.Time
}

func newTicketStore() *ticketStore {
	return &ticketStore{
		m:      make(map[[32]byte]Ticket),
		logins: holdings{m: make(map[string][]time.Time), holder: "login"},
		users:  holdings{m: make(map[string][]time.Time), holder: "user"},
	}
}

// AddTicket checks the login's and the user's limits and counts t against
// both in one step.
func (ts *ticketStore) AddTicket(t Ticket, l TicketLimits, now time.Time) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !now.Before(ts.nextSweep) || len(ts.m) >= l.Total {
		ts.sweep(now)
		ts.nextSweep = t.Expires
	}
	if len(ts.m) >= l.Total {
		return ErrTicketsFull
	}
	if err := ts.logins.check(t.Login(), l.PerLogin, now); err != nil {
		return err
	}
	if err := ts.users.check(t.Subject, l.PerUser, now); err != nil {
		return err
	}
	ts.logins.add(t.Login(), t.Expires)
	ts.users.add(t.Subject, t.Expires)
	ts.m[t.Hash] = t
	return nil
}

func (ts *ticketStore) sweep(now time.Time) {
	for h, t := range ts.m {
		if !now.Before(t.Expires) {
			delete(ts.m, h)
		}
	}
	ts.logins.sweep(now)
	ts.users.sweep(now)
}

// SpendTicket removes the ticket with hash h from the store and from its
// login's and its user's expiries. The map is keyed by a hash, so its
// look-up reveals nothing about the ticket; the final comparison is
// constant-time all the same.
func (ts *ticketStore) SpendTicket(h [32]byte) (Ticket, error) {
	ts.mu.Lock()
	t, ok := ts.m[h]
	if ok {
		delete(ts.m, h)
		ts.logins.forget(t.Login(), t.Expires)
		ts.users.forget(t.Subject, t.Expires)
	}
	ts.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(t.Hash[:], h[:]) != 1 {
		return Ticket{}, ErrTicketNotFound
	}
	return t, nil
}

// issueTicket records a new ticket for the holder of c, valid for the
// ticket TTL but never beyond c.Expires, and returns it with its expiry.
func (s *Service) issueTicket(c Claims, now time.Time) (string, time.Time, error) {
	t := randomToken(opaqueBytes)
	expires := now.Add(s.opts.TicketTTL)
	if c.Expires.Before(expires) {
		expires = c.Expires
	}
	rec := Ticket{Hash: hashToken(t), Subject: c.Subject, SID: c.SID, JTI: c.ID, Issued: now, Expires: expires}
	if err := s.tickets.AddTicket(rec, s.ticketLimits, now); err != nil {
		return "", time.Time{}, ticketError(err, now)
	}
	return t, expires, nil
}

// ticketError turns a TicketStore's refusal into the answer.
func ticketError(err error, now time.Time) error {
	var limit *TicketLimitError
	switch {
	case errors.As(err, &limit):
		e := ErrTooManyTickets.with(reasonLimit, "too many outstanding tickets for this "+limit.Holder+": use one or wait until one expires")
		e.retry = limit.FirstExpiry.Sub(now)
		return e
	case errors.Is(err, ErrTicketsFull):
		return ErrBusy
	}
	return storeError("adding ticket", err)
}

// spendTicket consumes ticket t: it is found once at most, and only
// before it expires.
func (s *Service) spendTicket(t string, now time.Time) (Ticket, error) {
	rec, err := s.tickets.SpendTicket(hashToken(t))
	switch {
	case errors.Is(err, ErrTicketNotFound):
		return Ticket{}, ErrInvalidTicket.with(reasonUnknown, "invalid ticket: unknown or already used")
	case err != nil:
		return Ticket{}, storeError("spending ticket", err)
	case !now.Before(rec.Expires):
		return Ticket{}, ErrInvalidTicket.with(reasonExpired, "invalid ticket: expired")
	}
	return rec, nil
}
