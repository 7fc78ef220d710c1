package main

import (
	"errors"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist"
)

// The bbolt store's service accounts, as auth.ClientStore.
var _ auth.ClientStore = authStore{}

func (s authStore) AddClient(c auth.Client) error {
	err := s.Store.AddClient(persist.Client{ID: c.ID, Roles: c.Roles, SecretHash: c.SecretHash[:], LoginID: c.LoginID, Created: c.Created})
	if errors.Is(err, persist.ErrExists) {
		return auth.ErrClientExists
	}
	return err
}

func (s authStore) ClientByID(id string) (auth.Client, error) {
	c, err := s.Store.Client(id)
	return authClient(c), mapStoreError(err, auth.ErrClientNotFound)
}

func (s authStore) Clients() ([]auth.Client, error) {
	cs, err := s.Store.Clients()
	out := make([]auth.Client, len(cs))
	for i, c := range cs {
		out[i] = authClient(c)
	}
	return out, err
}

func (s authStore) RecordClientToken(id, loginID string, until time.Time) error {
	return mapStoreError(s.Store.RecordClientToken(id, loginID, until), auth.ErrClientNotFound)
}

func (s authStore) DeleteClient(id string) (auth.Client, error) {
	c, err := s.Store.DeleteClient(id)
	return authClient(c), mapStoreError(err, auth.ErrClientNotFound)
}

func authClient(c persist.Client) auth.Client {
	out := auth.Client{ID: c.ID, Roles: c.Roles, LoginID: c.LoginID, Created: c.Created, AccessUntil: c.AccessUntil}
	copy(out.SecretHash[:], c.SecretHash)
	return out
}
