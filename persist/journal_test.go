package persist

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// runJournal opens s's journal and runs it until the test ends or the
// returned stop is called; stop waits for Run to return.
func runJournal(t *testing.T, s *Store, o JournalOptions) (*Journal, func()) {
	t.Helper()
	j, err := s.Journal(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return j, stop
}

// appendWait appends msg and waits for its outcome.
func appendWait(j *Journal, msg string) (uint64, error) {
	type result struct {
		id  uint64
		err error
	}
	c := make(chan result, 1)
	j.Append([]byte(msg), func(id uint64, err error) { c <- result{id, err} })
	r := <-c
	return r.id, r.err
}

func removeWait(j *Journal, ids ...uint64) error {
	c := make(chan error, 1)
	j.Remove(ids, func(err error) { c <- err })
	return <-c
}

// loaded returns what j holds, in order.
func loaded(t *testing.T, j *Journal) []string {
	t.Helper()
	var got []string
	if err := j.Load(func(_ uint64, msg []byte) { got = append(got, string(msg)) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestJournalKeepsMessagesInOrderUntilRemovedAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stompd.db")
	c := stomptest.NewClock()
	s := openAt(t, path, c)
	j, stop := runJournal(t, s, JournalOptions{})
	var ids []uint64
	for _, m := range []string{"a", "b", "c", "d"} {
		id, err := appendWait(j, m)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) || ids[0] == 0 {
		t.Errorf("ids %v: want increasing from 1", ids)
	}
	if err := removeWait(j, ids[1], ids[3]); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := appendWait(j, "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Run ended: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, c)
	j, _ = runJournal(t, s, JournalOptions{})
	if got := loaded(t, j); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after reopening: %q, want [a c]", got)
	}
	if id, err := appendWait(j, "e"); err != nil || id <= ids[3] {
		t.Errorf("append after reopening: id %d, %v; want one above %d", id, err, ids[3])
	}
}

func TestJournalCommitsConcurrentAppendsTogether(t *testing.T) {
	s, _, _ := openTest(t)
	var commits, appended atomic.Int64
	j, _ := runJournal(t, s, JournalOptions{OnCommit: func(c JournalCommit) {
		commits.Add(1)
		appended.Add(int64(c.Appended))
	}})
	const senders, each = 50, 40
	var wg sync.WaitGroup
	ids := make(chan uint64, senders*each)
	for w := range senders {
		wg.Go(func() {
			var pending sync.WaitGroup
			for i := range each {
				pending.Add(1)
				j.Append(fmt.Appendf(nil, "%d/%d", w, i), func(id uint64, err error) {
					if err != nil {
						t.Error(err)
					}
					ids <- id
					pending.Done()
				})
			}
			pending.Wait()
		})
	}
	wg.Wait()
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != senders*each || len(loaded(t, j)) != senders*each {
		t.Errorf("%d distinct ids, %d stored; want %d", len(seen), len(loaded(t, j)), senders*each)
	}
	t.Logf("%d messages in %d commits", appended.Load(), commits.Load())
	if n := commits.Load(); n >= senders*each {
		t.Errorf("%d commits for %d messages: appends are not committed together", n, senders*each)
	}
}

func TestJournalFailedCommitStoresNothingAndTheNextCommits(t *testing.T) {
	s, _, _ := openTest(t)
	var failed atomic.Int64
	j, _ := runJournal(t, s, JournalOptions{OnCommit: func(c JournalCommit) {
		if c.Err != nil {
			failed.Add(1)
		}
	}})
	kept, err := appendWait(j, "kept")
	if err != nil {
		t.Fatal(err)
	}
	disk := errors.New("injected write error")
	j.mu.Lock()
	j.inject = disk
	j.mu.Unlock()
	if _, err := appendWait(j, "lost"); !errors.Is(err, disk) {
		t.Errorf("append during the failure: %v, want the write error", err)
	}
	if err := removeWait(j, kept); !errors.Is(err, disk) {
		t.Errorf("remove during the failure: %v, want the write error", err)
	}
	if got := loaded(t, j); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("after failed commits the journal holds %q, want [kept]", got)
	}
	if failed.Load() != 2 {
		t.Errorf("OnCommit saw %d failures, want 2", failed.Load())
	}
	j.mu.Lock()
	j.inject = nil
	j.mu.Unlock()
	if _, err := appendWait(j, "after"); err != nil {
		t.Fatal(err)
	}
	if got := loaded(t, j); !slices.Equal(got, []string{"kept", "after"}) {
		t.Errorf("after recovery the journal holds %q", got)
	}
}

func TestJournalOnAClosedStoreFails(t *testing.T) {
	s, _, _ := openTest(t)
	j, _ := runJournal(t, s, JournalOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := appendWait(j, "m"); !errors.Is(err, ErrClosed) {
		t.Errorf("append on a closed store: %v, want ErrClosed", err)
	}
}

func TestJournalAppendWaitsForRoom(t *testing.T) {
	s, _, _ := openTest(t)
	j, err := s.Journal(JournalOptions{MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	noop := func(uint64, error) {}
	j.Append([]byte("1"), noop)
	j.Append([]byte("2"), noop)
	third := make(chan struct{})
	go func() {
		j.Append([]byte("3"), noop)
		close(third)
	}()
	select {
	case <-third:
		t.Fatal("a third Append beyond MaxPending 2 did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx)
	}()
	<-third
	cancel()
	<-done
	if got := loaded(t, j); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("journal holds %q", got)
	}
}
