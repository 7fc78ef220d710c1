package persist

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SweepOptions configure RunSweeper. The zero value is ready to use.
type SweepOptions struct {
	// Interval between sweeps. Zero or negative means 1m.
	Interval time.Duration
	// Batch is the most records of each kind one transaction deletes. Zero
	// or negative means 1000.
	Batch int
	// OnSweep, if set, is called after every sweep, from the sweeper's
	// goroutine (for metrics and logging).
	OnSweep func(SweepResult)
}

// SweepResult is what one Sweep deleted and how long it took.
type SweepResult struct {
	RefreshTokens int
	Denied        int
	Families      int
	Duration      time.Duration
	// Err is the error that ended the sweep early, if any (set by RunSweeper).
	Err error
}

const (
	defaultSweepInterval = time.Minute
	defaultSweepBatch    = 1000
)

// Sweep deletes the refresh tokens and denials that expired at or before now
// and the families that ended then (every token expired and every access
// token of the login expired). It works in transactions of at most batch
// records of each kind, committing each before starting the next, so writers
// such as logins wait for one batch at most; it repeats until a batch finds
// less than a full load.
func (s *Store) Sweep(now time.Time, batch int) (SweepResult, error) {
	if batch <= 0 {
		batch = defaultSweepBatch
	}
	start := time.Now()
	var total SweepResult
	for {
		var r SweepResult
		err := s.update(func(tx *bolt.Tx) (err error) {
			r, err = sweepBatch(tx, now, batch)
			return err
		})
		if err != nil {
			total.Duration = time.Since(start)
			return total, err
		}
		total.RefreshTokens += r.RefreshTokens
		total.Denied += r.Denied
		total.Families += r.Families
		if r.RefreshTokens < batch && r.Denied < batch && r.Families < batch {
			total.Duration = time.Since(start)
			return total, nil
		}
	}
}

// RunSweeper sweeps at once and then every o.Interval until ctx is done or
// the store is closed. Errors are reported through OnSweep only.
func (s *Store) RunSweeper(ctx context.Context, o SweepOptions) {
	if o.Interval <= 0 {
		o.Interval = defaultSweepInterval
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for ctx.Err() == nil {
		r, err := s.Sweep(s.now(), o.Batch)
		r.Err = err
		if o.OnSweep != nil {
			o.OnSweep(r)
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// sweepBatch deletes up to batch expired records of each kind.
func sweepBatch(tx *bolt.Tx, now time.Time, batch int) (r SweepResult, err error) {
	if r.RefreshTokens, err = sweepIndex(tx.Bucket(bRefreshExp), now, batch, func(hash []byte) error {
		return deleteToken(tx, hash)
	}); err != nil {
		return r, err
	}
	if r.Denied, err = sweepIndex(tx.Bucket(bDeniedExp), now, batch, tx.Bucket(bDenied).Delete); err != nil {
		return r, err
	}
	r.Families, err = sweepIndex(tx.Bucket(bFamiliesExp), now, batch, func(id []byte) error {
		return deleteFamily(tx, string(id))
	})
	return r, err
}

// sweepIndex calls del for up to limit ids that expired by now and removes
// their index entries; it returns how many it removed. An entry that stays
// first after its removal (a damaged index) is reported, so that Sweep never
// loops on it.
func sweepIndex(index *bolt.Bucket, now time.Time, limit int, del func(id []byte) error) (int, error) {
	keys := expired(index, now, limit)
	for _, k := range keys {
		if err := del(k[8:]); err != nil {
			return 0, err
		}
		if err := index.Delete(k); err != nil {
			return 0, err
		}
	}
	if first, _ := index.Cursor().First(); first != nil && slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, first) }) {
		return 0, corruptRecord("expiry index")
	}
	return len(keys), nil
}

func deleteToken(tx *bolt.Tx, hash []byte) error {
	if len(hash) != 32 {
		return corruptRecord("refresh expiry index")
	}
	t, err := getToken(tx, [32]byte(hash))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case t.State == TokenLive:
		if err := addLive(tx, -1); err != nil {
			return err
		}
	}
	return tx.Bucket(bRefresh).Delete(hash)
}

func deleteFamily(tx *bolt.Tx, id string) error {
	f, err := getFamily(tx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if err := tx.Bucket(bUserFams).Delete(userFamilyKey(f.UserID, id)); err != nil {
		return err
	}
	return tx.Bucket(bFamilies).Delete([]byte(id))
}
