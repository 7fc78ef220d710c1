package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ClientSubjectPrefix starts the sub of a service account's access tokens:
// client "billing" is "client:billing". A user id never has a colon, so no
// user and no client share a subject.
const ClientSubjectPrefix = "client:"

// MaxClientIDLength bounds a client id.
const MaxClientIDLength = 64

// maxClientSecretSize bounds a client secret as received; real ones are 43
// bytes.
const maxClientSecretSize = 256

// Client is a service account: a backend that gets access tokens with its
// secret (OAuth 2.0 client credentials) instead of a user's password.
type Client struct {
	// ID is chosen by the operator: letters, digits, '-', '_' and '.', at
	// most MaxClientIDLength bytes.
	ID    string
	Roles []string
	// SecretHash is the SHA-256 of the secret. The secret is 256 random
	// bits, so a fast hash is as safe as a slow one for it (nobody can
	// guess through 2^256 candidates, however fast each is), and checking
	// it costs a client no password-check slot.
	SecretHash [32]byte
	// LoginID is the sid of every access token issued to the client. It is
	// random and made with the client, so a client deleted and added again
	// under the same id is a new login, which the old one's denial leaves
	// alone.
	LoginID string
	Created time.Time
	// AccessUntil is when the last access token issued to the client stops
	// being valid; zero before the first. Deleting the client denies
	// LoginID until then.
	AccessUntil time.Time
}

// Subject returns the sub of the client's access tokens.
func (c Client) Subject() string { return ClientSubjectPrefix + c.ID }

// Client store errors.
var (
	// ErrClientNotFound: no client has that id (or, for
	// RecordClientToken, that id and login id).
	ErrClientNotFound = errors.New("auth: client not found")
	// ErrClientExists: a client has that id already.
	ErrClientExists = errors.New("auth: a client with this id exists")
)

// ClientStore keeps service accounts; a Store that also implements it
// enables them (POST /auth/token and the Service's client methods).
type ClientStore interface {
	ClientRegistry
	ClientLogins
}

// ClientRegistry adds, finds and lists clients. AddClient stores c unless
// a client has its id (ErrClientExists), in one step. ClientByID returns
// ErrClientNotFound for an unknown id. Clients lists every client by id.
type ClientRegistry interface {
	AddClient(c Client) error
	ClientByID(id string) (Client, error)
	Clients() ([]Client, error)
}

// ClientLogins ties a client's access tokens to its existence.
//
// RecordClientToken raises the AccessUntil of client id to until, in one
// step with checking that the client exists with login loginID
// (ErrClientNotFound otherwise): a token is issued only once recorded, so
// that a deletion racing with it either comes first and refuses it, or
// comes after and denies it. DeleteClient removes the client and denies
// its LoginID until its AccessUntil (when that is still ahead), in one
// step, and returns what it removed (ErrClientNotFound for an unknown id).
type ClientLogins interface {
	RecordClientToken(id, loginID string, until time.Time) error
	DeleteClient(id string) (Client, error)
}

// NewClient makes client id with roles, created at now, and its secret,
// which is shown once to whoever creates the client and kept only as its
// SHA-256. It checks the id and the roles.
func NewClient(id string, roles []string, now time.Time) (Client, string, error) {
	if err := CheckClientID(id); err != nil {
		return Client{}, "", err
	}
	for _, r := range roles {
		if r == "" || strings.ContainsAny(r, ", \t\r\n") {
			return Client{}, "", fmt.Errorf("role %q: a role is a word without commas or spaces", r)
		}
	}
	secret := randomToken(opaqueBytes)
	c := Client{
		ID:         id,
		Roles:      slices.Concat([]string{}, roles),
		SecretHash: hashToken(secret),
		LoginID:    randomToken(16),
		Created:    now.Truncate(time.Millisecond),
	}
	return c, secret, nil
}

// CheckClientID checks that id is a client id: 1 to 64 letters, digits,
// '-', '_' and '.', not only dots (which a URL path would read as "." or
// "..").
func CheckClientID(id string) error {
	if id == "" || len(id) > MaxClientIDLength {
		return fmt.Errorf("client id %q: it must be 1 to %d characters long", truncate(id, MaxClientIDLength), MaxClientIDLength)
	}
	for _, c := range []byte(id) {
		if !clientIDByte(c) {
			return fmt.Errorf("client id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	if strings.Trim(id, ".") == "" {
		return fmt.Errorf("client id %q: it must have a letter, digit, '-' or '_', not only dots", id)
	}
	return nil
}

func clientIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// ClientAccountKey is the key a LoginThrottle counts the failed token
// requests of client id under, with no limit of its own (ThrottleLimits
// Account 0): its own namespace, apart from the emails' (AccountKey), and
// case-sensitive as the id is.
func ClientAccountKey(id string) [32]byte {
	return sha256.Sum256([]byte(ClientSubjectPrefix + "\x00" + id))
}

// AddClient makes and stores client id with roles, and returns it with its
// secret, which is not kept: it is for the caller to hand to the client's
// operator once.
func (s *Service) AddClient(id string, roles []string) (Client, string, error) {
	store, err := s.clientStore()
	if err != nil {
		return Client{}, "", err
	}
	c, secret, err := NewClient(id, roles, s.now())
	if err != nil {
		return Client{}, "", ErrInvalidRequest.with(reasonMalformed, err.Error())
	}
	if err := store.AddClient(c); err != nil {
		return Client{}, "", clientError("adding client", err)
	}
	s.opts.Logger.Info("client added", "client", c.ID, "roles", c.Roles)
	return c, secret, nil
}

// Clients lists the service accounts by id.
func (s *Service) Clients() ([]Client, error) {
	store, err := s.clientStore()
	if err != nil {
		return nil, err
	}
	cs, err := store.Clients()
	if err != nil {
		return nil, clientError("listing clients", err)
	}
	return cs, nil
}

// DeleteClient removes client id: it gets no new token, and its login is
// denied until its last token expires, which ends its live sessions here
// at once (Options.OnLogout) and, on a shared store, on every node.
func (s *Service) DeleteClient(id string) error {
	store, err := s.clientStore()
	if err != nil {
		return err
	}
	c, err := store.DeleteClient(id)
	if err != nil {
		return clientError("deleting client", err)
	}
	s.TakeDenial(c.LoginID, c.AccessUntil)
	s.opts.Logger.Info("client deleted", "client", c.ID)
	return nil
}

// Errors of the client operations.
var (
	// ErrUnknownClient: no client has that id (404).
	ErrUnknownClient = newError(http.StatusNotFound, "not_found", reasonUnknown, "no such client")
	// ErrClientTaken: a client has that id already (409).
	ErrClientTaken = newError(http.StatusConflict, "client_exists", reasonMalformed, "a client with this id exists")
	// ErrNoClients: this server keeps no service accounts (verify-only
	// mode, or a store without clients).
	ErrNoClients = newError(http.StatusForbidden, "clients_disabled", reasonDisabled, "service accounts are disabled: this server only verifies tokens issued elsewhere, or its store keeps no clients")
)

// clientStore returns the store of clients, or ErrNoClients.
func (s *Service) clientStore() (ClientStore, error) {
	if s.clients == nil || !s.canIssue() {
		return nil, ErrNoClients
	}
	return s.clients, nil
}

// clientError maps a client store's error, from doing what.
func clientError(what string, err error) error {
	switch {
	case errors.Is(err, ErrClientNotFound):
		return ErrUnknownClient
	case errors.Is(err, ErrClientExists):
		return ErrClientTaken
	}
	return storeError(what, err)
}

// checkSecret reports whether secret is client id's, comparing in constant
// time, and against a hash no secret has when there is no such client, so
// that an unknown client takes as long to refuse as a wrong secret.
func (s *Service) checkSecret(store ClientStore, id, secret string) (Client, bool, error) {
	c, err := store.ClientByID(id)
	want := s.dummySecretHash
	switch {
	case err == nil:
		want = c.SecretHash
	case !errors.Is(err, ErrClientNotFound):
		return Client{}, false, storeError("looking up client", err)
	}
	got := hashToken(secret)
	return c, subtle.ConstantTimeCompare(got[:], want[:]) == 1 && err == nil, nil
}
