package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist"
)

// authStore adapts the bbolt store to auth.Store: it converts records and
// maps persist's errors to auth's.
type authStore struct {
	*persist.Store
}

// storeErrors maps each persist error to the auth error it means.
var storeErrors = []struct{ from, to error }{
	{persist.ErrReused, auth.ErrRefreshReused},
	{persist.ErrRevoked, auth.ErrRefreshRevoked},
	{persist.ErrExpired, auth.ErrRefreshExpired},
}

func mapStoreError(err, notFound error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, persist.ErrNotFound) {
		return notFound
	}
	for _, m := range storeErrors {
		if errors.Is(err, m.from) {
			return m.to
		}
	}
	return unavailable(err)
}

// unavailable marks a change the store could not write (a full disk) as
// auth.ErrUnavailable, which the HTTP APIs answer 503 with Retry-After,
// keeping the cause for the log; other errors are returned as they are.
func unavailable(err error) error {
	if errors.Is(err, persist.ErrWrite) {
		return fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	return err
}

// LoadOrStoreKey is the store's, with a write it could not make marked
// unavailable, as for every change auth makes.
func (s authStore) LoadOrStoreKey(name string, fresh []byte) ([]byte, error) {
	b, err := s.Store.LoadOrStoreKey(name, fresh)
	return b, unavailable(err)
}

// SwapKey is the store's, with a write it could not make marked
// unavailable: a key rotation on a full disk is answered 503 like a login.
func (s authStore) SwapKey(name string, old, next []byte) (bool, error) {
	swapped, err := s.Store.SwapKey(name, old, next)
	return swapped, unavailable(err)
}

// Deny denies id until until in the store.
func (s authStore) Deny(id string, until time.Time) error {
	return unavailable(s.Store.Deny(id, until))
}

func (s authStore) UserByEmail(email string) (auth.User, error) {
	u, err := s.Store.UserByEmail(email)
	return authUser(u), mapStoreError(err, auth.ErrUserNotFound)
}

func (s authStore) UserByID(id string) (auth.User, error) {
	u, err := s.Store.User(id)
	return authUser(u), mapStoreError(err, auth.ErrUserNotFound)
}

func authUser(u persist.User) auth.User {
	return auth.User{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, PasswordHash: u.PasswordHash, Disabled: u.Disabled}
}

func (s authStore) CreateRefresh(hash [32]byte, userID string, expires, accessUntil time.Time) (auth.RefreshToken, error) {
	t, err := s.Store.CreateRefresh(hash, userID, expires, accessUntil)
	return authRefresh(t), mapStoreError(err, auth.ErrRefreshNotFound)
}

func (s authStore) RotateRefresh(old, next [32]byte, expires, accessUntil time.Time) (auth.RefreshToken, error) {
	t, err := s.Store.RotateRefresh(old, next, expires, accessUntil)
	return authRefresh(t), mapStoreError(err, auth.ErrRefreshNotFound)
}

// LookupRefresh finds a token whatever its state, as auth expects: persist
// reports an expired, revoked or rotated token's state as an error next to
// the record.
func (s authStore) LookupRefresh(hash [32]byte) (auth.RefreshToken, error) {
	t, err := s.Store.LookupRefresh(hash)
	if err != nil && !errors.Is(err, persist.ErrNotFound) && t.Family != "" {
		err = nil
	}
	return authRefresh(t), mapStoreError(err, auth.ErrRefreshNotFound)
}

func authRefresh(t persist.RefreshToken) auth.RefreshToken {
	return auth.RefreshToken{Hash: t.Hash, Family: t.Family, UserID: t.UserID, Issued: t.Issued, Expires: t.Expires}
}

func (s authStore) RevokeFamily(family string) error {
	return mapStoreError(s.Store.RevokeFamily(family), auth.ErrRefreshNotFound)
}
