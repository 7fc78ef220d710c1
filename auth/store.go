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

// User is an account as auth needs it. PasswordHash is a bcrypt hash.
type User struct {
	ID           string
	Email        string
	Name         string
	Roles        []string
	PasswordHash []byte
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
// that start together all end up with the key stored first.
type KeyStore interface {
	LoadOrStoreKey(name string, fresh []byte) ([]byte, error)
}
