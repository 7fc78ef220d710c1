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

// User is an account that can log in, unless Disabled. PasswordHash is
// whatever the caller stored (a bcrypt hash); persist never looks inside
// it.
type User struct {
	ID           string
	Email        string
	Name         string
	Roles        []string
	PasswordHash []byte
	Created      time.Time
	Disabled     bool
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

// DeleteUser removes the user with this email and ends the user's logins
// (see ChangeUser).
func (s *Store) DeleteUser(email string) error {
	_, _, err := s.ChangeUser(UserRef{Email: email}, UserChange{Delete: true, EndLogins: true})
	return err
}

// SetPassword replaces the password hash of the user with this email and
// ends the user's logins (see ChangeUser).
func (s *Store) SetPassword(email string, hash []byte) error {
	_, _, err := s.ChangeUser(UserRef{Email: email}, UserChange{Edit: func(u *User) { u.PasswordHash = hash }, EndLogins: true})
	return err
}

// UserRef names a user: by email (ignoring case) when Email is set, by id
// otherwise.
type UserRef struct {
	ID, Email string
}

// UserChange is a change to a user: Edit (when not nil) changes it in
// place, or Delete removes it; EndLogins ends the user's logins too.
type UserChange struct {
	Edit      func(*User)
	Delete    bool
	EndLogins bool
}

// ChangeUser applies c to the user ref names and returns the user as
// changed (as it was, when deleted) and the sids of the logins it ended,
// each denied until its last access token expires, in one transaction:
// with c.EndLogins, every refresh token family of the user is revoked, so
// that none rotates again, and its sid denied (see RevokeFamily). An empty change returns the user as it is. No such user
// gives ErrNotFound.
func (s *Store) ChangeUser(ref UserRef, c UserChange) (u User, denied map[string]time.Time, err error) {
	now := s.now()
	err = s.update(func(tx *bolt.Tx) error {
		if u, err = userByRef(tx, ref); err != nil {
			return err
		}
		if err = applyChange(tx, &u, c); err != nil {
			return err
		}
		if c.EndLogins {
			denied, err = revokeUserFamilies(tx, u.ID, now)
		}
		return err
	})
	if err != nil {
		return User{}, nil, err
	}
	return u, denied, nil
}

// userByRef finds the user ref names.
func userByRef(tx *bolt.Tx, ref UserRef) (User, error) {
	if ref.Email != "" {
		return userByEmail(tx, ref.Email)
	}
	return getUser(tx, ref.ID)
}

// applyChange stores u changed by c, or deletes it.
func applyChange(tx *bolt.Tx, u *User, c UserChange) error {
	if c.Delete {
		if err := tx.Bucket(bEmails).Delete(emailKey(u.Email)); err != nil {
			return err
		}
		return tx.Bucket(bUsers).Delete([]byte(u.ID))
	}
	if c.Edit == nil {
		return nil
	}
	id, email, created := u.ID, u.Email, u.Created
	c.Edit(u)
	// The id, the email and the creation time are the store's to keep.
	u.ID, u.Email, u.Created = id, email, created
	u.Roles, u.PasswordHash = slices.Clone(u.Roles), bytes.Clone(u.PasswordHash)
	return putUser(tx, *u)
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
	if !r.bad && len(r.b) > 0 {
		// Records written before users could be disabled end here.
		u.Disabled = r.byte() == 1
	}
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
	b = append(b, 0)
	if u.Disabled {
		b[len(b)-1] = 1
	}
	return tx.Bucket(bUsers).Put([]byte(u.ID), b)
}
