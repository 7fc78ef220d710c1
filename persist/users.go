package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// User is an account that can log in. PasswordHash is whatever the caller
// stored (a bcrypt hash); persist never looks inside it.
type User struct {
	ID           string
	Email        string
	Name         string
	Roles        []string
	PasswordHash []byte
	Created      time.Time
}

// errNoEmail rejects a user without an email, which is the login name.
var errNoEmail = errors.New("persist: user email is empty")

// AddUser stores u under a new random ID and the current time, and returns
// the stored user. The email is unique regardless of case: a taken email
// gives ErrExists. u.ID and u.Created are ignored.
func (s *Store) AddUser(u User) (User, error) {
	if u.Email == "" {
		return User{}, errNoEmail
	}
	u.ID = newID()
	u.Created = s.stamp()
	u.Roles = slices.Clone(u.Roles)
	u.PasswordHash = bytes.Clone(u.PasswordHash)
	err := s.update(func(tx *bolt.Tx) error {
		emails := tx.Bucket(bEmails)
		if emails.Get(emailKey(u.Email)) != nil {
			return fmt.Errorf("user %s: %w", u.Email, ErrExists)
		}
		if err := emails.Put(emailKey(u.Email), []byte(u.ID)); err != nil {
			return err
		}
		return putUser(tx, u)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByEmail finds a user by email, ignoring case.
func (s *Store) UserByEmail(email string) (u User, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		u, err = userByEmail(tx, email)
		return err
	})
	return u, err
}

// User finds a user by ID.
func (s *Store) User(id string) (u User, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// Users returns every user, ordered by lower-cased email.
func (s *Store) Users() ([]User, error) {
	var users []User
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bEmails).ForEach(func(_, id []byte) error {
			u, err := getUser(tx, string(id))
			users = append(users, u)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// DeleteUser removes the user with this email and revokes all of the user's
// refresh token families (which also denies their sids, see RevokeFamily).
func (s *Store) DeleteUser(email string) error {
	now := s.now()
	return s.update(func(tx *bolt.Tx) error {
		u, err := userByEmail(tx, email)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bEmails).Delete(emailKey(email)); err != nil {
			return err
		}
		if err := tx.Bucket(bUsers).Delete([]byte(u.ID)); err != nil {
			return err
		}
		return revokeUserFamilies(tx, u.ID, now)
	})
}

// SetPassword replaces the password hash of the user with this email and,
// in the same transaction, ends the user's logins: all of the user's
// refresh token families are revoked (which also denies their sids, see
// RevokeFamily), so a stolen refresh token stops rotating.
func (s *Store) SetPassword(email string, hash []byte) error {
	now := s.now()
	return s.update(func(tx *bolt.Tx) error {
		u, err := userByEmail(tx, email)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := putUser(tx, u); err != nil {
			return err
		}
		return revokeUserFamilies(tx, u.ID, now)
	})
}

func emailKey(email string) []byte {
	return []byte(strings.ToLower(email))
}

func userByEmail(tx *bolt.Tx, email string) (User, error) {
	id := tx.Bucket(bEmails).Get(emailKey(email))
	if id == nil {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	return getUser(tx, string(id))
}

func getUser(tx *bolt.Tx, id string) (User, error) {
	v := tx.Bucket(bUsers).Get([]byte(id))
	if v == nil {
		return User{}, fmt.Errorf("user id %s: %w", id, ErrNotFound)
	}
	r := newReader(v)
	u := User{ID: r.string(), Email: r.string(), Name: r.string()}
	for n := r.length(); n > 0 && !r.bad; n-- {
		u.Roles = append(u.Roles, r.string())
	}
	u.PasswordHash = r.bytes()
	u.Created = r.time()
	return u, r.done("user")
}

func putUser(tx *bolt.Tx, u User) error {
	b := []byte{recordVersion}
	b = appendString(b, u.ID)
	b = appendString(b, u.Email)
	b = appendString(b, u.Name)
	b = binary.AppendUvarint(b, uint64(len(u.Roles)))
	for _, role := range u.Roles {
		b = appendString(b, role)
	}
	b = appendBytes(b, u.PasswordHash)
	b = appendTime(b, u.Created)
	return tx.Bucket(bUsers).Put([]byte(u.ID), b)
}
