package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bClients holds the service accounts: client id -> client record. It is
// made by the first AddClient, so that a store written before service
// accounts existed opens as it is; without it there are no clients.
var bClients = []byte("clients")

// Client is a service account. SecretHash is whatever the caller stored
// (the SHA-256 of its secret); LoginID is the sid of its access tokens;
// AccessUntil is when the last of them expires (zero before the first).
type Client struct {
	ID          string
	Roles       []string
	SecretHash  []byte
	LoginID     string
	Created     time.Time
	AccessUntil time.Time
}

var errNoClientID = errors.New("persist: client id is empty")

// AddClient stores c unless a client has its id (ErrExists), in one
// transaction.
func (s *Store) AddClient(c Client) error {
	if c.ID == "" || c.LoginID == "" {
		return errNoClientID
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bClients)
		if err != nil {
			return err
		}
		if b.Get([]byte(c.ID)) != nil {
			return fmt.Errorf("client %s: %w", c.ID, ErrExists)
		}
		return b.Put([]byte(c.ID), clientRecord(c))
	})
}

// Client finds a client by id (ErrNotFound).
func (s *Store) Client(id string) (c Client, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c, err = getClient(tx, id)
		return err
	})
	return c, err
}

// Clients returns every client, ordered by id.
func (s *Store) Clients() ([]Client, error) {
	var cs []Client
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bClients)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			c, err := readClient(v)
			cs = append(cs, c)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// RecordClientToken raises the AccessUntil of client id to until, if the
// client exists with login loginID (ErrNotFound otherwise), in one
// transaction.
func (s *Store) RecordClientToken(id, loginID string, until time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		c, err := getClient(tx, id)
		switch {
		case err != nil:
			return err
		case c.LoginID != loginID:
			return fmt.Errorf("client %s of another login: %w", id, ErrNotFound)
		case !until.After(c.AccessUntil):
			return nil
		}
		c.AccessUntil = until
		return tx.Bucket(bClients).Put([]byte(id), clientRecord(c))
	})
}

// DeleteClient removes client id and, in the same transaction, denies its
// LoginID until its AccessUntil when that is still ahead, so that the
// tokens it was issued stop working. It returns the removed client
// (ErrNotFound for an unknown id).
func (s *Store) DeleteClient(id string) (Client, error) {
	now := s.now()
	var c Client
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if c, err = getClient(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bClients).Delete([]byte(id)); err != nil {
			return err
		}
		if !c.AccessUntil.After(now) {
			return nil
		}
		return deny(tx, c.LoginID, c.AccessUntil)
	})
	return c, err
}

func getClient(tx *bolt.Tx, id string) (Client, error) {
	var v []byte
	if b := tx.Bucket(bClients); b != nil {
		v = b.Get([]byte(id))
	}
	if v == nil {
		return Client{}, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return readClient(v)
}

func clientRecord(c Client) []byte {
	b := []byte{recordVersion}
	b = appendString(b, c.ID)
	b = binary.AppendUvarint(b, uint64(len(c.Roles)))
	for _, role := range c.Roles {
		b = appendString(b, role)
	}
	b = appendBytes(b, c.SecretHash)
	b = appendString(b, c.LoginID)
	b = appendTime(b, c.Created)
	return appendTime(b, c.AccessUntil)
}

// readClient decodes a client record; the result owns its bytes.
func readClient(v []byte) (Client, error) {
	r := newReader(v)
	c := Client{ID: r.string()}
	for n := r.length(); n > 0 && !r.bad; n-- {
		c.Roles = append(c.Roles, r.string())
	}
	c.Roles = slices.Clip(c.Roles)
	c.SecretHash = bytes.Clone(r.bytes())
	c.LoginID = r.string()
	c.Created = r.time()
	c.AccessUntil = r.time()
	return c, r.done("client")
}
