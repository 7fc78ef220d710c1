package persist

import (
	"testing"
	"time"
)

func TestDeny(t *testing.T) {
	s, c, _ := openTest(t)
	soon, later := c.Now().Add(time.Minute), c.Now().Add(time.Hour)
	for _, d := range []struct {
		id    string
		until time.Time
	}{
		{"a", soon},
		{"b", later},
		{"b", soon},               // earlier: b stays denied until later
		{"c", soon}, {"c", later}, // later: c moves
		{"past", c.Now().Add(-time.Second)}, // over already: nothing stored
		{"now", c.Now()},
	} {
		if err := s.Deny(d.id, d.until); err != nil {
			t.Fatalf("Deny(%s): %v", d.id, err)
		}
	}
	if err := s.Deny("", later); err == nil {
		t.Fatal("Deny accepted an empty id")
	}
	got, err := s.Denied()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"a": soon, "b": later, "c": later}
	if len(got) != len(want) {
		t.Fatalf("Denied = %v, want %v", got, want)
	}
	for id, until := range want {
		if !got[id].Equal(until) {
			t.Fatalf("Denied[%s] = %v, want %v", id, got[id], until)
		}
	}
	c.Advance(time.Minute)
	if got, _ := s.Denied(); len(got) != 2 {
		t.Fatalf("Denied after a's denial ended = %v, want b and c", got)
	}
	r, err := s.Sweep(c.Now(), 10)
	if err != nil || r.Denied != 1 {
		t.Fatalf("Sweep = %+v, %v; want the one ended denial (c's earlier index entry moved, not left)", r, err)
	}
}

func TestKeys(t *testing.T) {
	s, _, _ := openTest(t)
	_, err := s.Key("signing")
	wantErr(t, "Key before PutKey", err, ErrNotFound)
	blob := []byte("secret")
	if err := s.PutKey("signing", blob); err != nil {
		t.Fatal(err)
	}
	blob[0] = 'X'
	got, err := s.Key("signing")
	if err != nil || string(got) != "secret" {
		t.Fatalf("Key = %q, %v", got, err)
	}
	got[0] = 'Y'
	if again, _ := s.Key("signing"); string(again) != "secret" {
		t.Fatalf("Key returned the store's own bytes: now %q", again)
	}
	if err := s.PutKey("signing", []byte("rotated")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Key("signing"); string(got) != "rotated" {
		t.Fatalf("Key after replace = %q", got)
	}
	if err := s.PutKey("", []byte("x")); err == nil {
		t.Fatal("PutKey accepted an empty name")
	}
}
