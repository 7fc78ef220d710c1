package persist

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func testClient(id string) Client {
	return Client{ID: id, Roles: []string{"publisher"}, SecretHash: []byte("0123456789abcdef0123456789abcdef"), LoginID: "login-" + id}
}

// TestClientsRoundTrip adds clients and reads them back, one by one and
// listed by id; a store made before service accounts existed has none.
func TestClientsRoundTrip(t *testing.T) {
	s, c, _ := openTest(t)
	if cs, err := s.Clients(); err != nil || len(cs) != 0 {
		t.Fatalf("Clients of a new store: %v, %v; want none", cs, err)
	}
	if _, err := s.Client("billing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Client of a new store: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"zeta", "billing"} {
		in := testClient(id)
		in.Created = c.Now()
		if err := s.AddClient(in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Client("billing")
	want := testClient("billing")
	if err != nil || got.ID != "billing" || !slices.Equal(got.Roles, want.Roles) || string(got.SecretHash) != string(want.SecretHash) ||
		got.LoginID != want.LoginID || !got.Created.Equal(c.Now()) || !got.AccessUntil.IsZero() {
		t.Fatalf("Client(billing) = %+v, %v; want %+v created %v", got, err, want, c.Now())
	}
	cs, err := s.Clients()
	if err != nil || len(cs) != 2 || cs[0].ID != "billing" || cs[1].ID != "zeta" {
		t.Fatalf("Clients = %+v, %v; want billing and zeta", cs, err)
	}
}

// TestAddClientConcurrentSameID: of concurrent adds of one id, exactly
// one wins; the others get ErrExists.
func TestAddClientConcurrentSameID(t *testing.T) {
	s, _, _ := openTest(t)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- s.AddClient(testClient("same")) })
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExists):
			t.Fatalf("AddClient: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent AddClient calls for one id succeeded, want 1", ok, n)
	}
}

// TestDeleteClientDeniesItsLogin: RecordClientToken keeps the latest
// expiry and refuses another login; deleting the client denies its login
// until then, and a client that never had a token is deleted without a
// denial.
func TestDeleteClientDeniesItsLogin(t *testing.T) {
	s, c, _ := openTest(t)
	cl := testClient("billing")
	if err := s.AddClient(cl); err != nil {
		t.Fatal(err)
	}
	later, earlier := c.Now().Add(15*time.Minute), c.Now().Add(5*time.Minute)
	for _, until := range []time.Time{later, earlier} {
		if err := s.RecordClientToken("billing", cl.LoginID, until); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordClientToken("billing", "another login", later.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RecordClientToken of another login: %v, want ErrNotFound", err)
	}
	gone, err := s.DeleteClient("billing")
	if err != nil || !gone.AccessUntil.Equal(later) {
		t.Fatalf("DeleteClient = %+v, %v; want AccessUntil %v", gone, err, later)
	}
	denied, _ := s.Denied()
	if !denied[cl.LoginID].Equal(later) {
		t.Fatalf("denials %v: want %s until %v", denied, cl.LoginID, later)
	}
	if _, err := s.DeleteClient("billing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteClient: %v, want ErrNotFound", err)
	}
	if err := s.RecordClientToken("billing", cl.LoginID, later); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RecordClientToken after the delete: %v, want ErrNotFound", err)
	}
	idle := testClient("idle")
	if err := s.AddClient(idle); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteClient("idle"); err != nil {
		t.Fatal(err)
	}
	if denied, _ := s.Denied(); len(denied) != 1 {
		t.Fatalf("denials %v: deleting a client without tokens denied something", denied)
	}
}
