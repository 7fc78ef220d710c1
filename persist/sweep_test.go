package persist

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSweepRemovesWhatEnded(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	t0 := c.Now()
	a := mustCreate(t, s, "a1", u.ID, t0.Add(time.Hour))
	c.Advance(10 * time.Minute)
	mustRotate(t, s, "a1", "a2", t0.Add(2*time.Hour))
	b := mustCreate(t, s, "b1", u.ID, t0.Add(3*time.Hour))
	// Family r: revoked, its token gone at 1h, but an access token lives to 4h.
	r := mustCreate(t, s, "r1", u.ID, t0.Add(time.Hour), t0.Add(4*time.Hour))
	if err := s.RevokeFamily(r.Family); err != nil {
		t.Fatal(err)
	}
	if err := s.Deny("x", t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Deny("y", t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantCount(t, s, 2) // a2 and b1

	for _, step := range []struct {
		at          time.Duration
		want        SweepResult
		gone, alive []string // tokens
		goneFams    []string
		liveCount   int
	}{
		{at: 90 * time.Minute, want: SweepResult{RefreshTokens: 2, Denied: 1},
			gone: []string{"a1", "r1"}, alive: []string{"a2", "b1"}, liveCount: 2},
		{at: 2 * time.Hour, want: SweepResult{RefreshTokens: 1, Families: 1},
			gone: []string{"a2"}, alive: []string{"b1"}, goneFams: []string{a.Family}, liveCount: 1},
		{at: 4 * time.Hour, want: SweepResult{RefreshTokens: 1, Denied: 1, Families: 2},
			gone: []string{"b1"}, goneFams: []string{b.Family, r.Family}, liveCount: 0},
		{at: 6 * time.Hour, want: SweepResult{Denied: 1}},
	} {
		t.Run(fmt.Sprint(step.at), func(t *testing.T) {
			got, err := s.Sweep(t0.Add(step.at), 100)
			if err != nil {
				t.Fatal(err)
			}
			got.Duration = 0
			if got != step.want {
				t.Fatalf("Sweep = %+v, want %+v", got, step.want)
			}
			for _, tok := range step.gone {
				_, err := s.LookupRefresh(hashOf(tok))
				wantErr(t, "swept token "+tok, err, ErrNotFound)
			}
			for _, tok := range step.alive {
				if _, err := s.getTokenForTest(tok); err != nil {
					t.Fatalf("token %s swept too early: %v", tok, err)
				}
			}
			for _, fam := range step.goneFams {
				_, err := s.Family(fam)
				wantErr(t, "swept family", err, ErrNotFound)
			}
			wantCount(t, s, step.liveCount)
		})
	}
	if n := s.countForTest(bUserFams); n != 0 {
		t.Fatalf("%d user-family index entries left after every family was swept", n)
	}
}

// TestSweepBatches checks that one transaction deletes at most a batch of
// each kind and that Sweep repeats batches until everything expired is gone.
func TestSweepBatches(t *testing.T) {
	s, c, _ := openTest(t)
	u := mustAddUser(t, s, "a@x")
	const n, batch = 10, 3
	for i := range n {
		mustCreate(t, s, fmt.Sprint("t", i), u.ID, c.Now().Add(time.Duration(i+1)*time.Minute))
		if err := s.Deny(fmt.Sprint("d", i), c.Now().Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	keep := mustCreate(t, s, "keep", u.ID, c.Now().Add(time.Hour))
	if err := s.Deny("keep", c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := c.Now().Add(n * time.Minute)

	var passes []SweepResult
	for range n { // bounded: each pass must make progress
		var r SweepResult
		err := s.update(func(tx *bolt.Tx) (err error) {
			r, err = sweepBatch(tx, now, batch)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		passes = append(passes, r)
		if r.RefreshTokens < batch {
			break
		}
	}
	want := []SweepResult{{3, 3, 3, 0, nil}, {3, 3, 3, 0, nil}, {3, 3, 3, 0, nil}, {1, 1, 1, 0, nil}}
	if fmt.Sprint(passes) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", passes, want)
	}
	wantCount(t, s, 1)
	if _, err := s.LookupRefresh(keep.Hash); err != nil {
		t.Fatalf("live token swept: %v", err)
	}
	if d, _ := s.Denied(); len(d) != 1 {
		t.Fatalf("Denied = %v, want only keep", d)
	}

	for i := range n { // the same again through Sweep, which loops itself
		mustCreate(t, s, fmt.Sprint("u", i), u.ID, now.Add(time.Minute))
	}
	r, err := s.Sweep(now.Add(time.Minute), batch)
	if err != nil || r.RefreshTokens != n || r.Families != n {
		t.Fatalf("Sweep = %+v, %v; want %d tokens and families", r, err, n)
	}
	wantCount(t, s, 1)
}

func TestRunSweeper(t *testing.T) {
	s, c, _ := openTest(t)
	if err := s.Deny("x", c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	var got []SweepResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunSweeper(ctx, SweepOptions{Interval: time.Hour, OnSweep: func(r SweepResult) {
			got = append(got, r)
			cancel()
		}})
	}()
	<-done
	if len(got) != 1 || got[0].Denied != 1 || got[0].Err != nil {
		t.Fatalf("OnSweep saw %+v; want one sweep that removed the denial", got)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got = nil
	s.RunSweeper(context.Background(), SweepOptions{OnSweep: func(r SweepResult) { got = append(got, r) }})
	if len(got) != 1 || !errors.Is(got[0].Err, ErrClosed) {
		t.Fatalf("RunSweeper on a closed store reported %+v; want one ErrClosed and a return", got)
	}
}

func (s *Store) getTokenForTest(token string) (t RefreshToken, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		t, err = getToken(tx, hashOf(token))
		return err
	})
	return t, err
}

func (s *Store) countForTest(bucket []byte) (n int) {
	_ = s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}
