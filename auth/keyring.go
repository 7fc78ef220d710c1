package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Ed25519RingName is the KeyStore name of the signing-key ring: the key
// that signs and the older keys that still verify, each with the time
// until which it does.
const Ed25519RingName = "jwt-ed25519-ring"

// DefaultKeyReload is how often RunKeyRing reads the ring from the store:
// after a rotation on another node, this node signs with the new key
// within it. A key retired by a rotation verifies for the access-token
// lifetime, the leeway and this interval more, so that tokens signed with
// it by nodes that had not yet read the rotation outlive it by nothing.
const DefaultKeyReload = 5 * time.Second

// unknownKIDReload is the least time between two reads of the ring caused
// by tokens whose kid no key of the ring has: a token of a key made on
// another node verifies here at once, while forged kids cannot make
// every request a store call.
const unknownKIDReload = time.Second

// maxRingKeys bounds the keys of the ring. A rotation that would hold
// more is refused until the oldest retired key stops verifying.
const maxRingKeys = 8

// maxSwapTries bounds the attempts of one change of the ring that other
// changes keep overtaking.
const maxSwapTries = 16

// ringDoc is the ring as stored: Keys[0] signs, the others verify until
// their VerifyUntil. Gen grows by one with every change, so that a node
// tells a newer ring from an older one.
type ringDoc struct {
	Gen  int64        `json:"gen"`
	Keys []ringMember `json:"keys"`
}

type ringMember struct {
	Seed        []byte    `json:"seed"`
	Created     time.Time `json:"created"`
	VerifyUntil time.Time `json:"verify_until,omitzero"`
}

// ringState is one version of the ring: the bytes stored, what they say,
// and the immutable Keys that sign with its first key and verify with all.
type ringState struct {
	raw  []byte
	doc  ringDoc
	kids []string // of doc.Keys, in order
	keys *Keys
}

// keyRing is the ring of a Keys that keeps its signing keys in a
// KeyStore. cur is replaced, never modified, and only by a newer ring
// (ringState.newer).
type keyRing struct {
	store      KeyStore
	cur        atomic.Pointer[ringState]
	unknownKID *rate.Limiter
}

// LoadEd25519Keys loads the ring of Ed25519 signing keys from ks, which
// stores a new one on first start. A store that holds only the seed of
// earlier versions (Ed25519KeyName) keeps it: it becomes the ring's first
// key. Each key's kid is the RFC 7638 thumbprint of its public key.
func LoadEd25519Keys(ks KeyStore) (*Keys, error) {
	seed, err := ks.LoadOrStoreKey(Ed25519KeyName, newSeed())
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("auth: stored signing key has %d bytes, want an Ed25519 seed of %d", len(seed), ed25519.SeedSize)
	}
	first, err := json.Marshal(ringDoc{Gen: 1, Keys: []ringMember{{Seed: seed, Created: time.Now().UTC().Truncate(time.Second)}}})
	if err != nil {
		return nil, err
	}
	raw, err := ks.LoadOrStoreKey(Ed25519RingName, first)
	if err != nil {
		return nil, fmt.Errorf("auth: signing keys: %w", err)
	}
	st, err := parseRing(raw)
	if err != nil {
		return nil, err
	}
	r := &keyRing{store: ks, unknownKID: rate.NewLimiter(rate.Every(unknownKIDReload), 1)}
	r.cur.Store(st)
	return &Keys{signer: jwt.SigningMethodEdDSA, methods: []string{jwt.SigningMethodEdDSA.Alg()}, ring: r}, nil
}

func newSeed() []byte {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	return seed
}

// parseRing decodes a stored ring and checks it.
func parseRing(raw []byte) (*ringState, error) {
	var doc ringDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("auth: stored signing keys (%s) are damaged: %w", Ed25519RingName, err)
	}
	if len(doc.Keys) == 0 || !doc.Keys[0].VerifyUntil.IsZero() {
		return nil, fmt.Errorf("auth: stored signing keys (%s) are damaged: no current key", Ed25519RingName)
	}
	return newRingState(raw, doc)
}

// newRingState builds the Keys of doc, stored as raw.
func newRingState(raw []byte, doc ringDoc) (*ringState, error) {
	st := &ringState{raw: raw, doc: doc, keys: &Keys{signer: jwt.SigningMethodEdDSA}}
	for i, m := range doc.Keys {
		if len(m.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("auth: stored signing key %d has %d bytes, want an Ed25519 seed of %d", i, len(m.Seed), ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(m.Seed)
		kid, err := st.keys.addPublic("", "", priv.Public())
		if err != nil {
			return nil, err
		}
		if i == 0 {
			st.keys.signKey, st.keys.signKID = priv, kid
		}
		st.kids = append(st.kids, kid)
	}
	var err error
	st.keys, err = st.keys.finish()
	return st, err
}

// encodeRing returns the state of doc, encoded for the store.
func encodeRing(doc ringDoc) (*ringState, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return newRingState(raw, doc)
}

// live returns the keys of st that still verify at now, the current one
// first.
func (st *ringState) live(now time.Time) []ringMember {
	out := make([]ringMember, 0, len(st.doc.Keys))
	for _, m := range st.doc.Keys {
		if m.VerifyUntil.IsZero() || now.Before(m.VerifyUntil) {
			out = append(out, m)
		}
	}
	return out
}

// rotated returns the ring with a new current key, the current one
// retired to verify for verifyFor more, and keys that no longer verify at
// now left out; ErrTooManyKeys if it would hold more than maxRingKeys.
func (st *ringState) rotated(now time.Time, verifyFor time.Duration) (*ringState, error) {
	keep := st.live(now)
	if len(keep) >= maxRingKeys {
		oldest := keep[len(keep)-1].VerifyUntil
		return nil, ErrTooManyKeys.with(reasonLimit, fmt.Sprintf("%d signing keys still verify tokens; the oldest one stops at %s: rotate again after that", len(keep), oldest.UTC().Format(time.RFC3339)))
	}
	keep[0].VerifyUntil = now.Add(verifyFor)
	current := ringMember{Seed: newSeed(), Created: now.UTC().Truncate(time.Second)}
	return encodeRing(ringDoc{Gen: st.doc.Gen + 1, Keys: append([]ringMember{current}, keep...)})
}

// pruned returns the ring without the keys that no longer verify at now,
// or nil when it holds none such.
func (st *ringState) pruned(now time.Time) (*ringState, error) {
	keep := st.live(now)
	if len(keep) == len(st.doc.Keys) {
		return nil, nil
	}
	return encodeRing(ringDoc{Gen: st.doc.Gen + 1, Keys: keep})
}

// info lists st as the admin API shows it.
func (st *ringState) info() KeyRing {
	r := KeyRing{KID: st.kids[0], Keys: make([]KeyInfo, len(st.kids))}
	for i, m := range st.doc.Keys {
		r.Keys[i] = KeyInfo{KID: st.kids[i], Created: m.Created, VerifyUntil: m.VerifyUntil}
	}
	return r
}

// reload reads the ring from the store and adopts it when it is newer than
// the one held; a store that lost the ring gets the held one back. A store
// holding an older ring, or another of the same generation, which only a
// node that started while the store had lost the ring can have made, gets
// the held one instead when it is the newer (of one generation, the one of
// greater bytes), so that every node ends up on one ring: reload then
// returns ErrKeyDiverged, since tokens signed with the other ring's keys
// stop verifying.
func (r *keyRing) reload() (*ringState, error) {
	held := r.cur.Load()
	raw, err := r.store.LoadOrStoreKey(Ed25519RingName, held.raw)
	if err != nil {
		return held, fmt.Errorf("auth: signing keys: %w", err)
	}
	if bytes.Equal(raw, held.raw) {
		return held, nil
	}
	st, err := parseRing(raw)
	if err != nil {
		return held, err
	}
	if st.newer(held) {
		return r.adopt(st), nil
	}
	swapped, err := r.store.SwapKey(Ed25519RingName, raw, held.raw)
	if err != nil || !swapped {
		return held, err // changed meanwhile: the next reload reads it
	}
	return held, ErrKeyDiverged
}

// newer reports whether st replaces held: it is of a later generation or,
// of the same one, its bytes are greater.
func (st *ringState) newer(held *ringState) bool {
	if st.doc.Gen != held.doc.Gen {
		return st.doc.Gen > held.doc.Gen
	}
	return bytes.Compare(st.raw, held.raw) > 0
}

// adopt makes st the ring held unless a newer one is, and returns the one
// held.
func (r *keyRing) adopt(st *ringState) *ringState {
	for {
		held := r.cur.Load()
		if !st.newer(held) {
			return held
		}
		if r.cur.CompareAndSwap(held, st) {
			return st
		}
	}
}

// update stores the ring change makes of the one held, in one SwapKey
// against the ring it was made from; when another change was stored
// first, it reads that one and makes its change again. change returns nil
// for nothing to change. update returns the ring held afterwards.
func (r *keyRing) update(change func(*ringState) (*ringState, error)) (*ringState, error) {
	held := r.cur.Load()
	for range maxSwapTries {
		next, err := change(held)
		if next == nil || err != nil {
			return held, err
		}
		swapped, err := r.store.SwapKey(Ed25519RingName, held.raw, next.raw)
		if err != nil {
			return held, fmt.Errorf("auth: signing keys: %w", err)
		}
		if swapped {
			return r.adopt(next), nil
		}
		if held, err = r.reload(); err != nil {
			return held, err
		}
	}
	return held, ErrBusy.with(reasonBusy, "the signing keys are being changed by others, try again shortly")
}

// keyFunc picks the key for t among the ring's and, when its kid is
// unknown and the last such read is old enough, reads the ring again: the
// key was maybe made by a rotation on another node.
func (r *keyRing) keyFunc(t *jwt.Token) (any, error) {
	key, err := r.cur.Load().keys.keyFunc(t)
	if _, named := t.Header["kid"]; errors.Is(err, errUnknownKey) && named && r.unknownKID.Allow() {
		if st, rerr := r.reload(); rerr == nil {
			key, err = st.keys.keyFunc(t)
		}
	}
	return key, err
}

// Rotate adds a new signing key to the ring in the store, in one step,
// and signs with it from now on. The key it replaces verifies until the
// last token it signed expires: for accessTTL, the leeway and
// DefaultKeyReload after now. Keys that no longer verify leave the ring
// with the rotation. Other nodes verify tokens of the new key at once and
// sign with it within DefaultKeyReload. HS256 and verify-only keys have
// no ring to rotate: ErrNoKeyRing, saying why.
func (k *Keys) Rotate(now time.Time, accessTTL, leeway time.Duration) (KeyRing, error) {
	r, err := k.keyRing()
	if err != nil {
		return KeyRing{}, err
	}
	verifyFor := accessTTL + leeway + DefaultKeyReload
	st, err := r.update(func(held *ringState) (*ringState, error) { return held.rotated(now, verifyFor) })
	if err != nil {
		return KeyRing{}, err
	}
	return st.info(), nil
}

// Ring lists the ring of signing keys as held; ErrNoKeyRing, saying why,
// for HS256 and verify-only keys.
func (k *Keys) Ring() (KeyRing, error) {
	r, err := k.keyRing()
	if err != nil {
		return KeyRing{}, err
	}
	return r.cur.Load().info(), nil
}

// keyRing returns the ring of signing keys, or why there is none.
func (k *Keys) keyRing() (*keyRing, error) {
	switch {
	case k.ring != nil:
		return k.ring, nil
	case k.CanSign():
		return nil, ErrNoKeyRing.with(reasonDisabled, "tokens are signed with an HS256 secret, which cannot be rotated here: write a new secret to the secret file and restart every node (tokens of the old secret then stop verifying)")
	}
	return nil, ErrNoKeyRing.with(reasonDisabled, "this server only verifies tokens issued elsewhere: their issuer rotates its keys, and stompd follows its JWKS with --jwks-url, or takes its new key with a restart")
}

// KeyInfo describes one key of the signing-key ring: its kid, when it was
// made, and until when it verifies tokens (absent for the current key,
// which signs).
type KeyInfo struct {
	KID         string    `json:"kid"`
	Created     time.Time `json:"created"`
	VerifyUntil time.Time `json:"verify_until,omitzero"`
}

// KeyRing lists the signing-key ring: KID is the current key's, and Keys
// every key, the current one first.
type KeyRing struct {
	KID  string    `json:"kid"`
	Keys []KeyInfo `json:"keys"`
}
