package persist

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

func TestRotationChain(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	first := mustCreate(t, s, "t1", u.ID, c.Now().Add(time.Hour))
	if first.Family == "" || first.UserID != u.ID || first.State != TokenLive || !first.Issued.Equal(c.Now()) {
		t.Fatalf("CreateRefresh = %+v", first)
	}
	c.Advance(time.Minute)
	second := mustRotate(t, s, "t1", "t2", c.Now().Add(time.Hour))
	c.Advance(time.Minute)
	third := mustRotate(t, s, "t2", "t3", c.Now().Add(time.Hour))
	for _, rt := range []RefreshToken{second, third} {
		if rt.Family != first.Family || rt.UserID != u.ID || rt.State != TokenLive {
			t.Fatalf("rotated token %+v not in family %s", rt, first.Family)
		}
	}
	if !third.Issued.Equal(c.Now()) || third.Hash != hashOf("t3") {
		t.Fatalf("third = %+v", third)
	}
	got, err := s.LookupRefresh(hashOf("t3"))
	if err != nil || got != third {
		t.Fatalf("LookupRefresh(t3) = %+v, %v; want %+v", got, err, third)
	}
	got, err = s.LookupRefresh(hashOf("t1"))
	wantErr(t, "LookupRefresh of a rotated token", err, ErrReused)
	if got.Family != first.Family || got.State != TokenRotated {
		t.Fatalf("LookupRefresh(t1) record %+v", got)
	}
	if revoked, err := s.FamilyRevoked(first.Family); err != nil || revoked {
		t.Fatalf("LookupRefresh revoked the family: %v, %v", revoked, err)
	}
	wantCount(t, s, 1)
}

func TestReuseRevokesFamily(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	exp := c.Now().Add(time.Hour)
	first := mustCreate(t, s, "t1", u.ID, exp)
	other := mustCreate(t, s, "o1", u.ID, exp)
	mustRotate(t, s, "t1", "t2", exp)
	mustRotate(t, s, "t2", "t3", exp, c.Now().Add(15*time.Minute))

	_, err := s.RotateRefresh(hashOf("t1"), hashOf("t4"), exp, time.Time{})
	wantErr(t, "reuse of t1", err, ErrReused)
	if revoked, err := s.FamilyRevoked(first.Family); err != nil || !revoked {
		t.Fatalf("family after reuse: revoked=%v, %v", revoked, err)
	}
	for _, tok := range []string{"t3", "t2", "t1"} {
		_, err := s.RotateRefresh(hashOf(tok), hashOf("x-"+tok), exp, time.Time{})
		wantErr(t, "rotating "+tok+" after reuse", err, ErrRevoked)
	}
	got, err := s.LookupRefresh(hashOf("t3"))
	wantErr(t, "LookupRefresh(t3) after reuse", err, ErrRevoked)
	if got.State != TokenRevoked {
		t.Fatalf("t3 state %v, want revoked", got.State)
	}
	_, err = s.LookupRefresh(hashOf("t4"))
	wantErr(t, "the token offered in the reuse", err, ErrNotFound)
	denied, err := s.Denied()
	if err != nil || !denied[first.Family].Equal(c.Now().Add(15*time.Minute)) {
		t.Fatalf("Denied after reuse = %v, %v; want the sid until its last access token expires", denied, err)
	}
	if revoked, _ := s.FamilyRevoked(other.Family); revoked {
		t.Fatal("reuse revoked another login of the user")
	}
	wantCount(t, s, 1)
}

func TestRefreshErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup runs after t1 (expiring in 1h) was created in family fam.
		setup func(t *testing.T, s *Store, c *stomptest.Clock, fam string)
		want  error
	}{
		{"unknown", func(t *testing.T, s *Store, c *stomptest.Clock, fam string) {}, ErrNotFound},
		{"expired", func(t *testing.T, s *Store, c *stomptest.Clock, fam string) { c.Advance(time.Hour) }, ErrExpired},
		{"revoked family", func(t *testing.T, s *Store, c *stomptest.Clock, fam string) {
			if err := s.RevokeFamily(fam); err != nil {
				t.Fatal(err)
			}
		}, ErrRevoked},
		{"expired beats revoked", func(t *testing.T, s *Store, c *stomptest.Clock, fam string) {
			if err := s.RevokeFamily(fam); err != nil {
				t.Fatal(err)
			}
			c.Advance(2 * time.Hour)
		}, ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := openTest(t)
			u := mustAddUser(t, s, "a@x")
			first := mustCreate(t, s, "t1", u.ID, c.Now().Add(time.Hour))
			tc.setup(t, s, c, first.Family)
			presented := "t1"
			if tc.want == ErrNotFound {
				presented = "never issued"
			}
			_, err := s.LookupRefresh(hashOf(presented))
			wantErr(t, "LookupRefresh", err, tc.want)
			_, err = s.RotateRefresh(hashOf(presented), hashOf("t2"), c.Now().Add(time.Hour), time.Time{})
			wantErr(t, "RotateRefresh", err, tc.want)
			_, err = s.LookupRefresh(hashOf("t2"))
			wantErr(t, "the refused rotation's new token", err, ErrNotFound)
		})
	}
}

func TestRefreshMisuse(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	exp := c.Now().Add(time.Hour)
	mustCreate(t, s, "t1", u.ID, exp)
	mustCreate(t, s, "t2", u.ID, exp)

	_, err := s.CreateRefresh(hashOf("t1"), u.ID, exp, time.Time{})
	wantErr(t, "CreateRefresh with a stored hash", err, ErrExists)
	_, err = s.CreateRefresh(hashOf("n"), "no-such-user", exp, time.Time{})
	wantErr(t, "CreateRefresh for an unknown user", err, ErrNotFound)
	if _, err := s.CreateRefresh(hashOf("n"), u.ID, c.Now(), time.Time{}); err == nil {
		t.Fatal("CreateRefresh accepted an expiry of now")
	}
	if _, err := s.RotateRefresh(hashOf("t1"), hashOf("n"), c.Now().Add(-time.Second), time.Time{}); err == nil {
		t.Fatal("RotateRefresh accepted an expiry in the past")
	}
	_, err = s.RotateRefresh(hashOf("t1"), hashOf("t2"), exp, time.Time{})
	wantErr(t, "RotateRefresh onto a stored hash", err, ErrExists)
	got, err := s.LookupRefresh(hashOf("t1"))
	if err != nil || got.State != TokenLive {
		t.Fatalf("t1 after the failed rotation: %+v, %v; want it untouched", got, err)
	}
	wantErr(t, "RevokeFamily unknown", s.RevokeFamily("nope"), ErrNotFound)
	_, err = s.FamilyRevoked("nope")
	wantErr(t, "FamilyRevoked unknown", err, ErrNotFound)
	wantCount(t, s, 2)
}

func TestRevokeFamily(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	access := c.Now().Add(15 * time.Minute)
	first := mustCreate(t, s, "t1", u.ID, c.Now().Add(time.Hour), access)
	mustRotate(t, s, "t1", "t2", c.Now().Add(time.Hour), access.Add(-time.Minute)) // the later one stays
	f, err := s.Family(first.Family)
	if err != nil || f.UserID != u.ID || f.Revoked || !f.AccessUntil.Equal(access) || !f.Created.Equal(c.Now()) {
		t.Fatalf("Family = %+v, %v", f, err)
	}
	for i := range 2 { // revoking twice is fine
		if err := s.RevokeFamily(first.Family); err != nil {
			t.Fatalf("RevokeFamily #%d: %v", i+1, err)
		}
	}
	if revoked, err := s.FamilyRevoked(first.Family); err != nil || !revoked {
		t.Fatalf("FamilyRevoked = %v, %v", revoked, err)
	}
	denied, err := s.Denied()
	if err != nil || len(denied) != 1 || !denied[first.Family].Equal(access) {
		t.Fatalf("Denied = %v, %v; want the sid until %v", denied, err, access)
	}
	wantCount(t, s, 0)
}

// TestConcurrentRotation presents one token to 50 rotations at once: bbolt
// runs the check-and-write transactions one at a time, so one wins, the next
// detects reuse and revokes the family, and the rest find it revoked.
func TestConcurrentRotation(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	first := mustCreate(t, s, "t1", u.ID, c.Now().Add(time.Hour))
	const n = 50
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]error, n)
		winner  = make([]RefreshToken, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			winner[i], results[i] = s.RotateRefresh(hashOf("t1"), hashOf(fmt.Sprint("next", i)), c.Now().Add(time.Hour), time.Time{})
		})
	}
	close(start)
	wg.Wait()
	var ok, reused, revoked int
	var won RefreshToken
	for i, err := range results {
		switch {
		case err == nil:
			ok++
			won = winner[i]
		case errors.Is(err, ErrReused):
			reused++
		case errors.Is(err, ErrRevoked):
			revoked++
		default:
			t.Fatalf("rotation %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 || reused != 1 || revoked != n-2 {
		t.Fatalf("successes %d, reused %d, revoked %d; want 1, 1, %d", ok, reused, revoked, n-2)
	}
	if isRevoked, err := s.FamilyRevoked(first.Family); err != nil || !isRevoked {
		t.Fatalf("family after the race: revoked=%v, %v", isRevoked, err)
	}
	_, err := s.LookupRefresh(won.Hash)
	wantErr(t, "the winning rotation's token", err, ErrRevoked)
	wantCount(t, s, 0)
}

func TestRefreshSurvivesReopen(t *testing.T) {
	s, c, path := openTest(t)
	u := mustAddUser(t, s, "a@x")
	exp := c.Now().Add(time.Hour)
	first := mustCreate(t, s, "t1", u.ID, exp)
	second := mustRotate(t, s, "t1", "t2", exp)
	mustCreate(t, s, "o1", u.ID, exp)
	if err := s.Deny("jti-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKey("ed25519", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, c)
	got, err := s.LookupRefresh(hashOf("t2"))
	if err != nil || got != second {
		t.Fatalf("t2 after reopen: %+v, %v; want %+v", got, err, second)
	}
	_, err = s.LookupRefresh(hashOf("t1"))
	wantErr(t, "t1 after reopen", err, ErrReused)
	if got, err := s.UserByEmail("a@x"); err != nil || got.ID != u.ID {
		t.Fatalf("user after reopen: %+v, %v", got, err)
	}
	if d, err := s.Denied(); err != nil || !d["jti-1"].Equal(exp) {
		t.Fatalf("Denied after reopen: %v, %v", d, err)
	}
	if k, err := s.Key("ed25519"); err != nil || string(k) != "\x01\x02\x03" {
		t.Fatalf("Key after reopen: %v, %v", k, err)
	}
	if f, err := s.Family(first.Family); err != nil || f.Revoked {
		t.Fatalf("family after reopen: %+v, %v", f, err)
	}
	wantCount(t, s, 2)
}

// TestRotationRecordsItsAccessToken rotates with the expiry of the access
// token issued with the new refresh token: the family records it in the
// same transaction, and a refused rotation records neither.
func TestRotationRecordsItsAccessToken(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	exp := c.Now().Add(time.Hour)
	first := mustCreate(t, s, "t1", u.ID, exp, c.Now().Add(5*time.Minute))
	mustCreate(t, s, "o1", u.ID, exp)
	_, err := s.RotateRefresh(hashOf("t1"), hashOf("o1"), exp, c.Now().Add(30*time.Minute))
	wantErr(t, "RotateRefresh onto a stored hash", err, ErrExists)
	if f, err := s.Family(first.Family); err != nil || !f.AccessUntil.Equal(c.Now().Add(5*time.Minute)) {
		t.Fatalf("after a refused rotation: %+v, %v; want AccessUntil unchanged", f, err)
	}
	mustRotate(t, s, "t1", "t2", exp, c.Now().Add(20*time.Minute))
	if f, err := s.Family(first.Family); err != nil || !f.AccessUntil.Equal(c.Now().Add(20*time.Minute)) {
		t.Fatalf("after the rotation: %+v, %v; want AccessUntil its access token's expiry", f, err)
	}
}
