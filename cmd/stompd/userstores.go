package main

import (
	"errors"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/persist"
)

// boltUsers is the admin API's UserStore on the bbolt store of one node.
type boltUsers struct{ s *persist.Store }

func (b boltUsers) Users() ([]admin.User, error) {
	users, err := b.s.Users()
	return convert(users, adminUser), err
}

// convert converts every element of in with f.
func convert[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func (b boltUsers) AddUser(u auth.User) (admin.User, error) {
	added, err := b.s.AddUser(persist.User{Email: u.Email, Name: u.Name, Roles: u.Roles, PasswordHash: u.PasswordHash})
	if errors.Is(err, persist.ErrExists) {
		return admin.User{}, admin.ErrEmailTaken
	}
	return adminUser(added), unavailable(err)
}

func (b boltUsers) ChangeUser(ref auth.UserRef, c auth.UserChange) (admin.User, map[string]time.Time, error) {
	u, denied, err := b.s.ChangeUser(persist.UserRef(ref), persist.UserChange{Edit: edit(c), Delete: c.Delete, EndLogins: c.EndsLogins()})
	return adminUser(u), denied, mapStoreError(err, auth.ErrUserNotFound)
}

// edit returns what c changes in a stored user.
func edit(c auth.UserChange) func(*persist.User) {
	return func(u *persist.User) {
		if c.Name != nil {
			u.Name = *c.Name
		}
		if c.Roles != nil {
			u.Roles = *c.Roles
		}
		if c.PasswordHash != nil {
			u.PasswordHash = c.PasswordHash
		}
		if c.Disabled != nil {
			u.Disabled = *c.Disabled
		}
	}
}

func adminUser(u persist.User) admin.User {
	return admin.User{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Disabled: u.Disabled, Created: u.Created}
}

// redisUsers is the admin API's UserStore on the users the nodes of a
// cluster share in Redis.
type redisUsers struct{ s *redisstore.Store }

func (r redisUsers) Users() ([]admin.User, error) {
	users, err := r.s.Users()
	return convert(users, redisAdminUser), err
}

func (r redisUsers) AddUser(u auth.User) (admin.User, error) {
	added, err := r.s.AddUser(u)
	if errors.Is(err, redisstore.ErrExists) {
		return admin.User{}, admin.ErrEmailTaken
	}
	return redisAdminUser(added), err
}

func (r redisUsers) ChangeUser(ref auth.UserRef, c auth.UserChange) (admin.User, map[string]time.Time, error) {
	u, denied, err := r.s.ChangeUser(ref, c)
	return redisAdminUser(u), denied, err
}

func redisAdminUser(u redisstore.User) admin.User {
	return admin.User{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Disabled: u.Disabled, Created: u.Created}
}

// redisUnlock forgets the failed logins of an account that every node of
// a cluster counts in Redis, and returns how many were within the default
// window.
func redisUnlock(s *redisstore.Store) func(email string) (int, error) {
	return func(email string) (int, error) {
		return s.Unlock(auth.AccountKey(email), auth.ThrottleLimits{Window: auth.DefaultThrottleWindow}, time.Now())
	}
}

// userStore is the admin API's UserStore on this server's store.
func (s *server) userStore() admin.UserStore {
	if s.cluster != nil {
		return redisUsers{s.cluster.store}
	}
	return boltUsers{s.store}
}
