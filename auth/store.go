package auth

import (
	"errors"
	"time"
)

// Store is where auth keeps what outlives a request and what every node
// serving the same users must share: accounts, refresh tokens and their
// families, denied ids, and signing keys. The bbolt file of one node
// implements it, and a shared Redis can: every method is one atomic step
// (a rotation checks, rotates and records together; a key is loaded or
// stored in one go), never a read that a later write relies on, so that
// two requests or two nodes racing on one record cannot both win.
//
// Methods report their cases with the errors below; an implementation maps
// its own errors to them (wrapping is fine: auth matches with errors.Is).
type Store interface {
	Users
	RefreshStore
	Revoker
	DenialStore
	KeyStore
}

// Errors a Store returns, so that auth can tell the cases apart.
var (
	// ErrUserNotFound: no user has that email or id.
	ErrUserNotFound = errors.New("auth: user not found")
	// ErrRefreshNotFound: no refresh token has that hash.
	ErrRefreshNotFound = errors.New("auth: refresh token not found")
	// ErrRefreshExpired: the refresh token is past its expiry.
	ErrRefreshExpired = errors.New("auth: refresh token expired")
	// ErrRefreshRevoked: the refresh token's family was revoked.
	ErrRefreshRevoked = errors.New("auth: refresh token revoked")
	// ErrRefreshReused: the refresh token was already rotated; the store has
	// revoked its whole family before returning this.
	ErrRefreshReused = errors.New("auth: refresh token reused")
)

// User is an account as auth needs it. PasswordHash is a bcrypt hash. A
// Disabled user cannot log in, and its refresh tokens do not rotate.
type User struct {
	ID           string
	Email        string
	Name         string
	Roles        []string
	PasswordHash []byte
	Disabled     bool
}

// Users looks accounts up; both methods return ErrUserNotFound when there
// is no such user. UserByID serves refresh, which re-reads the roles.
type Users interface {
	UserByEmail(email string) (User, error)
	UserByID(id string) (User, error)
}

// RefreshToken is a stored refresh token. Only its SHA-256 is stored;
// Family names the login it belongs to and becomes the sid of the access
// tokens issued with it.
type RefreshToken struct {
	Hash    [32]byte
	Family  string
	UserID  string
	Issued  time.Time
	Expires time.Time
}

// RefreshStore stores refresh tokens by hash.
//
// CreateRefresh starts a new family (a login). RotateRefresh replaces old
// by next in old's family and returns the new token; it fails with
// ErrRefreshNotFound, ErrRefreshExpired, ErrRefreshRevoked, or
// ErrRefreshReused when old was already rotated, having then revoked the
// family. Both record, in the same write, accessUntil: the expiry of the
// access token issued with the new refresh token, so that revoking the
// family later can deny its sid long enough. LookupRefresh finds a token,
// rotated or not (ErrRefreshNotFound).
type RefreshStore interface {
	CreateRefresh(hash [32]byte, userID string, expires, accessUntil time.Time) (RefreshToken, error)
	RotateRefresh(old, next [32]byte, expires, accessUntil time.Time) (RefreshToken, error)
	LookupRefresh(hash [32]byte) (RefreshToken, error)
}

// Revoker revokes a whole refresh-token family: no token of it rotates again.
type Revoker interface {
	RevokeFamily(family string) error
}

// DenialStore keeps denied ids across restarts: access-token jtis and
// login sids share one namespace (both are random), each denied until a
// time. Deny keeps the later of an id's two times, in one step; Denied
// returns the denials still in force.
type DenialStore interface {
	Deny(id string, until time.Time) error
	Denied() (map[string]time.Time, error)
}

// KeyStore keeps signing keys. LoadOrStoreKey returns the key stored under
// name, first storing fresh there when there is none, in one step: nodes
// that start together all end up with the key stored first. SwapKey
// stores next under name if old is what name holds, in one step, and
// reports whether it did: of two callers that read the same old, one
// stores and the other learns that it must read again.
type KeyStore interface {
	LoadOrStoreKey(name string, fresh []byte) ([]byte, error)
	SwapKey(name string, old, next []byte) (bool, error)
}

// The stores below are optional: when Options.Store also implements one,
// auth keeps that state there, shared by every node on the store;
// otherwise in this process's memory. Each method is one atomic step.

// Ticket is an outstanding ticket, known by its SHA-256. Login names the
// login it was issued for: the access token's sid, or its jti when it has
// none (a token issued elsewhere).
type Ticket struct {
	Hash            [32]byte
	Subject         string
	SID, JTI        string
	Issued, Expires time.Time
}

// Login returns the id of the login t was issued for.
func (t Ticket) Login() string {
	if t.SID != "" {
		return t.SID
	}
	return t.JTI
}

// TicketLimits bound the tickets outstanding at once: in all (Total), per
// login and per user (Subject).
type TicketLimits struct {
	Total, PerLogin, PerUser int
}

// TicketStore keeps outstanding tickets.
//
// AddTicket checks the limits, forgetting tickets expired at now, and
// records t, in one step: it fails with ErrTicketsFull past Total, or a
// *TicketLimitError past PerLogin or PerUser, and then records nothing.
// SpendTicket removes and returns the ticket with that hash, expired or
// not, so that it is found once at most; ErrTicketNotFound otherwise.
type TicketStore interface {
	AddTicket(t Ticket, l TicketLimits, now time.Time) error
	SpendTicket(hash [32]byte) (Ticket, error)
}

// Ticket store errors.
var (
	// ErrTicketNotFound: no outstanding ticket has that hash.
	ErrTicketNotFound = errors.New("auth: ticket not found")
	// ErrTicketsFull: TicketLimits.Total tickets are outstanding.
	ErrTicketsFull = errors.New("auth: too many outstanding tickets")
)

// TicketLimitError refuses a ticket to a login or user (Holder "login" or
// "user") that holds its limit of them; the first of them expires at
// FirstExpiry.
type TicketLimitError struct {
	Holder      string
	FirstExpiry time.Time
}

func (e *TicketLimitError) Error() string {
	return "auth: too many outstanding tickets for this " + e.Holder
}

// ThrottleLimits are the failed logins allowed within Window per account
// from one address (Pair), per address and per account. Account 0 sets no
// limit per account, whose failures are then not counted at all: a secret
// that cannot be guessed needs none, and a limit would only let anyone who
// knows the account's name lock it out.
type ThrottleLimits struct {
	Pair, Address, Account int
	Window                 time.Duration
}

// Attempt is a login attempt a LoginThrottle reserved. Account and Address
// are the SHA-256 of the normalised email and of the client address; ID
// tells the attempt from others of the same pair (stores that record
// attempts by id set it), At is when it was reserved.
type Attempt struct {
	Account, Address [32]byte
	ID               string
	At               time.Time
	// counted tells which of the in-memory throttle's tables counted it.
	counted uint8
}

// LoginThrottle counts failed logins per (account, address) pair, per
// address and per account.
//
// Reserve notes an attempt as in flight with all three unless one of them
// already holds its limit: of failures within the window, and then it notes
// nothing and returns how long until the oldest of them leaves the window;
// or of failures and attempts in flight together, and then it notes nothing
// and returns ErrAttemptsInFlight, for the caller to try again once some
// have settled. So a burst of attempts gets no more password checks than a
// limit allows, yet only failures make a client wait. Settle ends an
// attempt with its Outcome. Unlock forgets the account's failures and
// attempts in flight from every address and returns how many were within
// the window: the account's, or its pairs' together when more (an account
// not counted has none).
type LoginThrottle interface {
	Reserve(account, address [32]byte, l ThrottleLimits, now time.Time) (Attempt, time.Duration, error)
	Settle(a Attempt, o Outcome) error
	Unlock(account [32]byte, l ThrottleLimits, now time.Time) (int, error)
}

// ErrAttemptsInFlight is what LoginThrottle.Reserve returns when attempts
// still in flight, with the failures, hold a limit.
var ErrAttemptsInFlight = errors.New("auth: login attempts in flight hold the limit")

// Outcome is how a reserved login attempt ended.
type Outcome uint8

const (
	// Unchecked: the password was never compared; the attempt is taken
	// back.
	Unchecked Outcome = iota
	// Failed: the password was wrong; the attempt counts as a failure from
	// when it was reserved.
	Failed
	// Passed: the password was right; the attempt is taken back and its
	// pair's failures are forgotten.
	Passed
)
