package auth

import (
	"context"
	"errors"
	"time"
)

// RotateKey rotates the signing key as Keys.Rotate does, with the
// Service's publication delay, access-token lifetime and leeway, counts
// the rotation and logs the new key's kid and when it signs.
func (s *Service) RotateKey() (KeyRing, error) {
	ring, err := s.keys.Rotate(s.now(), s.opts.KeyPublishDelay, s.opts.AccessTTL, s.opts.Leeway)
	if err != nil {
		return KeyRing{}, err
	}
	s.opts.Metrics.KeyRotations.Inc()
	s.opts.Metrics.SigningKeys.Set(float64(len(ring.Keys)))
	s.opts.Logger.Info("signing key rotated: the new key is published now and signs from signs_from", "kid", ring.Keys[0].KID, "signs_from", ring.Keys[0].SignsFrom)
	return ring, nil
}

// SigningKeys reads the ring of signing keys from the store, as
// ReloadKeys does, and lists it; ErrNoKeyRing with HS256 and verify-only
// keys.
func (s *Service) SigningKeys() (KeyRing, error) {
	if err := s.ReloadKeys(); err != nil {
		return KeyRing{}, err
	}
	return s.keys.Ring(s.now())
}

// ReloadKeys reads the ring of signing keys from the store and publishes
// and verifies with its keys from then on (another node may have rotated
// it; each key signs from its signs_from), puts
// the ring back if the store lost it, and removes from the ring and the
// store the keys that no longer verify. It returns ErrKeyDiverged when it
// replaced an older ring that another node made while the store had lost
// this one.
func (s *Service) ReloadKeys() error {
	r := s.keys.ring
	if r == nil {
		return nil
	}
	before := r.cur.Load()
	st, err := r.reload()
	if err == nil {
		st, err = r.update(func(held *ringState) (*ringState, error) { return held.pruned(s.now()) })
	}
	s.opts.Metrics.SigningKeys.Set(float64(len(st.kids)))
	if st.kids[0] != before.kids[0] {
		s.opts.Logger.Info("publishing a signing key made by a rotation on another node", "kid", st.kids[0], "signs_from", st.doc.Keys[0].SignsFrom)
	}
	return err
}

// RunKeyRing calls ReloadKeys every DefaultKeyReload until ctx ends,
// logging what fails. Without a ring of signing keys it returns at once.
func (s *Service) RunKeyRing(ctx context.Context) {
	if s.keys.ring == nil {
		return
	}
	t := time.NewTicker(DefaultKeyReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch err := s.ReloadKeys(); {
		case errors.Is(err, ErrKeyDiverged):
			s.opts.Logger.Warn("the store held other signing keys than this node's, made by a node that started while the store had lost them: this node put its own back, which every node adopts within seconds; tokens signed with the others no longer verify")
		case err != nil && !errors.Is(err, ErrUnavailable):
			s.opts.Logger.Warn("reading the signing keys from the store", "err", err)
		}
	}
}
