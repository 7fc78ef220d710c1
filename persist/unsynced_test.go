package persist

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestLatestTxTellsWhetherACommitTookEffect: the store's latest
// transaction is the id of the last commit that wrote its meta page, not
// of one rolled back; update tells a commit that failed after taking
// effect from one that failed before by this.
func TestLatestTxTellsWhetherACommitTookEffect(t *testing.T) {
	s, _, _ := openTest(t)
	var committed, rolledBack int
	if err := s.db.Update(func(tx *bolt.Tx) error {
		committed = tx.ID()
		return tx.Bucket(bKeys).Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error {
		rolledBack = tx.ID()
		return errors.New("rolled back")
	})
	if got := s.latestTx(); got != committed || rolledBack != committed+1 {
		t.Errorf("latest transaction %d; want %d, the one committed, not %d, the one rolled back", got, committed, rolledBack)
	}
}

// TestUnsyncedStoreRefusesChangesUntilReopened puts a store in the state
// a commit leaves whose sync failed after its meta page was written
// (which no test can cause: disktest's full tmpfs or file size limit
// fails a commit before that): every change is then refused with ErrWrite
// and ErrUnsynced, and OnWrite hears of each, while reads go on; the
// store opened again takes changes.
func TestUnsyncedStoreRefusesChangesUntilReopened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stompd.db")
	s, c, outcomes := openObserved(t, path)
	u := mustAddUser(t, s, "a@x")
	s.unsynced = true
	for _, tok := range []string{"first", "second"} {
		if _, err := s.CreateRefresh(hashOf(tok), u.ID, c.Now().Add(time.Hour), time.Time{}); !errors.Is(err, ErrWrite) || !errors.Is(err, ErrUnsynced) {
			t.Fatalf("a change after a commit that took effect unsynced: %v, want ErrWrite and ErrUnsynced", err)
		}
	}
	if n := len(*outcomes); n != 3 || !errors.Is((*outcomes)[2], ErrUnsynced) {
		t.Errorf("OnWrite told %v, want nil then ErrUnsynced twice", *outcomes)
	}
	if _, err := s.UserByEmail("a@x"); err != nil {
		t.Errorf("a read: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, c)
	mustCreate(t, s, "after", u.ID, c.Now().Add(time.Hour))
}
