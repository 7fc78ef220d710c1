package auth

import (
	"context"
	"errors"
	"time"
)

// RotateKey adds a new signing key to the ring in the store, in one step,
// and signs with it from now on. The key it replaces verifies until the
// last token it signed expires: for the access-token lifetime, the leeway
// and DefaultKeyReload more. Keys that no longer verify leave the ring
// with the rotation. Other nodes verify tokens of the new key at once and
// sign with it within DefaultKeyReload. HS256 and verify-only keys have
// no ring to rotate: ErrNoKeyRing.
func (s *Service) RotateKey() (KeyRing, error) {
	r, err := s.ring()
	if err != nil {
		return KeyRing{}, err
	}
	now := s.now()
	verifyFor := s.opts.AccessTTL + s.opts.Leeway + DefaultKeyReload
	st, err := r.update(func(held *ringState) (*ringState, error) { return held.rotated(now, verifyFor) })
	if err != nil {
		return KeyRing{}, err
	}
	s.opts.Metrics.KeyRotations.Inc()
	s.opts.Metrics.SigningKeys.Set(float64(len(st.kids)))
	s.opts.Logger.Info("signing key rotated", "kid", st.kids[0])
	return st.info(), nil
}

// SigningKeys reads the ring of signing keys from the store, as
// ReloadKeys does, and lists it; ErrNoKeyRing with HS256 and verify-only
// keys.
func (s *Service) SigningKeys() (KeyRing, error) {
	r, err := s.ring()
	if err != nil {
		return KeyRing{}, err
	}
	if err := s.ReloadKeys(); err != nil {
		return KeyRing{}, err
	}
	return r.cur.Load().info(), nil
}

// ReloadKeys reads the ring of signing keys from the store and signs with
// its current key from then on (another node may have rotated it), puts
// the ring back if the store lost it, and removes from the ring and the
// store the keys that no longer verify. It returns ErrKeyDiverged when
// the store holds another ring, not a newer one, and keeps this one then.
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
		s.opts.Logger.Info("signing with a key made by a rotation on another node", "kid", st.kids[0])
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
			s.opts.Logger.Error("the store holds other signing keys than this node signs with: tokens this node issues fail on the other nodes and theirs fail here; restart the nodes that started while Redis had lost its data")
		case err != nil && !errors.Is(err, ErrUnavailable):
			s.opts.Logger.Warn("reading the signing keys from the store", "err", err)
		}
	}
}

// ring returns the ring of signing keys, or why there is none.
func (s *Service) ring() (*keyRing, error) {
	switch {
	case s.keys.ring != nil:
		return s.keys.ring, nil
	case s.keys.CanSign():
		return nil, ErrNoKeyRing.with(reasonDisabled, "tokens are signed with an HS256 secret, which cannot be rotated here: write a new secret to the secret file and restart every node (tokens of the old secret then stop verifying)")
	}
	return nil, ErrNoKeyRing.with(reasonDisabled, "this server only verifies tokens issued elsewhere: their issuer rotates its keys, and stompd follows its JWKS with --jwks-url, or takes its new key with a restart")
}
