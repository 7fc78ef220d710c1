package persist

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bJournal holds the journal's messages: id (8 bytes big-endian, from the
// bucket's sequence) -> message. It is made by Store.Journal, so that a
// store written before the journal existed opens as it is.
var bJournal = []byte("journal")

// DefaultJournalPending is JournalOptions.MaxPending's default.
const DefaultJournalPending = 4096

// JournalOptions configure a Journal. The zero value is ready to use.
type JournalOptions struct {
	// MaxPending bounds the appends waiting for a commit: Append blocks
	// while that many wait. Zero or negative means DefaultJournalPending.
	MaxPending int
	// OnCommit, when set, is told about every commit, failed ones
	// included, from the committing goroutine, before the callbacks of its
	// appends and removals: a caller told of its message has it counted.
	OnCommit func(JournalCommit)
}

// JournalCommit describes one commit of a Journal.
type JournalCommit struct {
	Appended, Removed int   // messages appended and removed in it
	Err               error // nil when it committed
	Duration          time.Duration
}

// Journal keeps opaque messages in the store's file until they are
// removed: a broker's persistent queue messages. Append and Remove only
// queue their work; Run commits it, everything queued by every caller
// since the last commit in one transaction (group commit: one fsync for
// many messages), and then calls their callbacks: nothing is reported
// stored before its transaction committed, and a failed transaction stores
// and removes nothing of its batch. Its methods are safe for concurrent
// use.
type Journal struct {
	s *Store
	o JournalOptions

	mu      sync.Mutex
	work    sync.Cond // Run waits on it for work or stop
	room    sync.Cond // Append waits on it for room
	appends []journalAppend
	removes []journalRemove
	stop    bool  // Run's context is done: it takes what is queued, for the last time
	closed  bool  // Run took its last batch: calls fail with ErrClosed
	inject  error // fails the commits while set (tests)
}

type journalAppend struct {
	msg    []byte
	stored func(uint64, error)
}

type journalRemove struct {
	ids     []uint64
	removed func(error)
}

// Journal returns the store's journal, making its bucket if the file has
// none. Its work is committed only while Run runs; Run must end before
// the store is closed.
func (s *Store) Journal(o JournalOptions) (*Journal, error) {
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultJournalPending
	}
	err := s.update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bJournal)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("persist: journal: %w", err)
	}
	j := &Journal{s: s, o: o}
	j.work.L, j.room.L = &j.mu, &j.mu
	return j, nil
}

// Append queues msg to be stored, then calls stored from Run with the id
// it got (increasing in the order of the Append calls, never 0) or the
// error of its commit. It blocks while MaxPending appends wait. After Run
// ended it calls stored with ErrClosed at once. msg is copied.
func (j *Journal) Append(msg []byte, stored func(id uint64, err error)) {
	j.mu.Lock()
	for len(j.appends) >= j.o.MaxPending && !j.closed {
		j.room.Wait()
	}
	if j.closed {
		j.mu.Unlock()
		stored(0, ErrClosed)
		return
	}
	j.appends = append(j.appends, journalAppend{bytes.Clone(msg), stored})
	j.work.Signal()
	j.mu.Unlock()
}

// Remove queues the messages ids to be deleted, then calls removed from
// Run with the error of its commit; ids not stored are ignored. It does
// not block. After Run ended it calls removed with ErrClosed at once.
func (j *Journal) Remove(ids []uint64, removed func(error)) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		removed(ErrClosed)
		return
	}
	j.removes = append(j.removes, journalRemove{ids, removed})
	j.work.Signal()
	j.mu.Unlock()
}

// Load calls each with every message stored, in the order they were
// appended. msg is a copy each may keep.
func (j *Journal) Load(each func(id uint64, msg []byte)) error {
	return j.s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bJournal).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: journal key of %d bytes", ErrCorrupt, len(k))
			}
			each(binary.BigEndian.Uint64(k), bytes.Clone(v))
			return nil
		})
	})
}

// Run commits the queued work until ctx is done, then what is queued by
// then, and returns; later calls fail with ErrClosed.
func (j *Journal) Run(ctx context.Context) {
	defer context.AfterFunc(ctx, func() {
		j.mu.Lock()
		j.stop = true
		j.work.Signal()
		j.mu.Unlock()
	})()
	for {
		a, r, last := j.take()
		if len(a)+len(r) > 0 {
			j.commit(a, r)
		}
		if last {
			return
		}
	}
}

// take waits for work and takes all of it; last is true when Run must
// end after committing it.
func (j *Journal) take() (a []journalAppend, r []journalRemove, last bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.appends)+len(j.removes) == 0 && !j.stop {
		j.work.Wait()
	}
	a, r = j.appends, j.removes
	j.appends, j.removes = nil, nil
	j.closed = j.stop
	j.room.Broadcast()
	return a, r, j.closed
}

// commit stores a and deletes r in one transaction, then reports.
func (j *Journal) commit(a []journalAppend, r []journalRemove) {
	start := time.Now()
	ids := make([]uint64, len(a))
	removed := 0
	err := j.s.update(func(tx *bolt.Tx) error {
		if err := j.injected(); err != nil {
			return err
		}
		b := tx.Bucket(bJournal)
		b.FillPercent = 0.95 // keys only grow: pages split full
		for i, op := range a {
			id, err := b.NextSequence()
			if err == nil {
				err = b.Put(binary.BigEndian.AppendUint64(nil, id), op.msg)
			}
			if err != nil {
				return err
			}
			ids[i] = id
		}
		for _, op := range r {
			for _, id := range op.ids {
				if err := b.Delete(binary.BigEndian.AppendUint64(nil, id)); err != nil {
					return err
				}
			}
			removed += len(op.ids)
		}
		return nil
	})
	if j.o.OnCommit != nil {
		j.o.OnCommit(JournalCommit{Appended: len(a), Removed: removed, Err: err, Duration: time.Since(start)})
	}
	j.report(a, r, ids, err)
}

// report calls the callbacks of a commit's work.
func (j *Journal) report(a []journalAppend, r []journalRemove, ids []uint64, err error) {
	if err != nil {
		err = fmt.Errorf("persist: journal: %w", err)
	}
	for i, op := range a {
		if err != nil {
			op.stored(0, err)
		} else {
			op.stored(ids[i], nil)
		}
	}
	for _, op := range r {
		op.removed(err)
	}
}

func (j *Journal) injected() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.inject
}
