package persist

import (
	"bytes"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestChangeUser changes a user by id and by email: roles and disabling
// with EndLogins revoke the user's families and return the sid of the one
// with a live access token, in the same transaction; a name change alone
// ends nothing; a deleted user is gone by both names.
func TestChangeUser(t *testing.T) {
	s, c, _ := openTest(t)
	dan := mustAddUser(t, s, "dan@x")
	exp := c.Now().Add(time.Hour)
	live := mustCreate(t, s, "d1", dan.ID, exp, c.Now().Add(15*time.Minute))
	mustCreate(t, s, "d2", dan.ID, exp)

	u, denied, err := s.ChangeUser(UserRef{Email: "DAN@x"}, UserChange{Edit: func(u *User) { u.Name = "Dan"; u.ID = "stolen" }})
	if err != nil || u.Name != "Dan" || u.ID != dan.ID || len(denied) != 0 {
		t.Fatalf("name change: %+v, %v, %v", u, denied, err)
	}
	mustRotate(t, s, "d1", "d1b", exp, c.Now().Add(15*time.Minute))

	roles := []string{"ops"}
	u, denied, err = s.ChangeUser(UserRef{ID: dan.ID}, UserChange{Edit: func(u *User) { u.Roles, u.Disabled = roles, true }, EndLogins: true})
	if err != nil || !slices.Equal(u.Roles, roles) || !u.Disabled || u.Name != "Dan" {
		t.Fatalf("roles and disable: %+v, %v", u, err)
	}
	if _, ok := denied[live.Family]; !ok || len(denied) != 1 {
		t.Errorf("denied %v, want only the live login %s", denied, live.Family)
	}
	if got, err := s.UserByEmail("dan@x"); err != nil || !got.Disabled || !slices.Equal(got.Roles, roles) {
		t.Errorf("read back: %+v, %v", got, err)
	}
	_, err = s.RotateRefresh(hashOf("d2"), hashOf("d3"), exp, time.Time{})
	wantErr(t, "rotating after the change", err, ErrRevoked)

	if _, _, err := s.ChangeUser(UserRef{ID: dan.ID}, UserChange{Delete: true, EndLogins: true}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []UserRef{{ID: dan.ID}, {Email: "dan@x"}} {
		_, _, err := s.ChangeUser(ref, UserChange{})
		wantErr(t, "change of a deleted user", err, ErrNotFound)
	}
}

// TestUserRecordWithoutDisabledFlag reads a user record as stores wrote it
// before users could be disabled: it is read, enabled, and written back in
// the new form.
func TestUserRecordWithoutDisabledFlag(t *testing.T) {
	s, _, _ := openTest(t)
	old := mustAddUser(t, s, "old@x")
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		v := bytes.Clone(b.Get([]byte(old.ID)))
		return b.Put([]byte(old.ID), v[:len(v)-1])
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.User(old.ID)
	if err != nil || u.Disabled || u.Email != "old@x" {
		t.Fatalf("old record: %+v, %v", u, err)
	}
	if _, _, err := s.ChangeUser(UserRef{ID: old.ID}, UserChange{Edit: func(u *User) { u.Disabled = true }}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.User(old.ID); err != nil || !u.Disabled {
		t.Errorf("after disabling: %+v, %v", u, err)
	}
}
