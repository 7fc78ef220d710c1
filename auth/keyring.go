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

// Ed25519RingName is the KeyStore name of the signing-key ring: the
// newest key, which signs or is published to sign from a later time, and
// the older keys that still verify, each with the time until which it
// does.
const Ed25519RingName = "jwt-ed25519-ring"

// DefaultKeyReload is how often RunKeyRing reads the ring from the store:
// after a rotation on another node, this node lists the new key in its
// JWKS within it.
const DefaultKeyReload = 5 * time.Second

// DefaultKeyPublishDelay is how long after a rotation the new key starts
// signing. Until then every node lists it in its JWKS and verifies with
// it but signs with the key before, so that a service verifying with any
// node's JWKS knows the key before any token of it exists. A node reads
// the ring every DefaultKeyReload: two periods cover a node whose read
// came just before the rotation and whose next one failed, and 5 s more
// cover the clocks of the nodes disagreeing and a slow read.
const DefaultKeyPublishDelay = 2*DefaultKeyReload + 5*time.Second

// switchMargin is how long, past the access-token lifetime and the leeway
// counted from the switch to a new key, the key before still verifies:
// for clocks that disagree and for a node that read the ring late and
// signed with the old key a little after the switch.
const switchMargin = DefaultKeyReload

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

// ringDoc is the ring as stored: Keys[0] signs from its SignsFrom (zero,
// as in rings stored before keys were published ahead: at once), Keys[1]
// signs until then, and the keys but Keys[0] verify until their
// VerifyUntil. Gen grows by one with every change, so that a node tells a
// newer ring from an older one.
type ringDoc struct {
	Gen  int64        `json:"gen"`
	Keys []ringMember `json:"keys"`
}

type ringMember struct {
	Seed        []byte    `json:"seed"`
	Created     time.Time `json:"created"`
	SignsFrom   time.Time `json:"signs_from,omitzero"`
	VerifyUntil time.Time `json:"verify_until,omitzero"`
}

// ringState is one version of the ring: the bytes stored, what they say,
// and the immutable Keys that verify with all its keys and sign with the
// first one (keys) or, before its SignsFrom, with the second (before).
type ringState struct {
	raw    []byte
	doc    ringDoc
	kids   []string // of doc.Keys, in order
	keys   *Keys
	before *Keys // nil: the first key has no SignsFrom or no key before it
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
	if st.keys, err = st.keys.finish(); err != nil {
		return nil, err
	}
	if len(doc.Keys) > 1 && !doc.Keys[0].SignsFrom.IsZero() {
		before := *st.keys
		before.signKey = ed25519.NewKeyFromSeed(doc.Keys[1].Seed)
		before.signKID = st.kids[1]
		st.before = &before
	}
	return st, nil
}

// at returns the Keys of st that sign at now.
func (st *ringState) at(now time.Time) *Keys {
	if st.before != nil && now.Before(st.doc.Keys[0].SignsFrom) {
		return st.before
	}
	return st.keys
}

// pending returns the time from which the first key signs when that is
// after now, else the zero time.
func (st *ringState) pending(now time.Time) time.Time {
	if st.at(now) == st.keys {
		return time.Time{}
	}
	return st.doc.Keys[0].SignsFrom
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

// rotated returns the ring with a new key that signs from signsFrom, the
// current one retired to verify until verifyFor after that, and keys that
// no longer verify at now left out. It refuses with ErrRotationPending
// while the newest key does not sign yet, and with ErrTooManyKeys if the
// ring would hold more than maxRingKeys.
func (st *ringState) rotated(now, signsFrom time.Time, verifyFor time.Duration) (*ringState, error) {
	if at := st.pending(now); !at.IsZero() {
		return nil, ErrRotationPending.with(reasonLimit, fmt.Sprintf("a rotation is already pending until %s: key %s signs from then; rotate again after that", at.UTC().Format(time.RFC3339), st.kids[0]))
	}
	keep := st.live(now)
	if len(keep) >= maxRingKeys {
		oldest := keep[len(keep)-1].VerifyUntil
		return nil, ErrTooManyKeys.with(reasonLimit, fmt.Sprintf("%d signing keys still verify tokens; the oldest one stops at %s: rotate again after that", len(keep), oldest.UTC().Format(time.RFC3339)))
	}
	keep[0].VerifyUntil = signsFrom.Add(verifyFor)
	next := ringMember{Seed: newSeed(), Created: now.UTC().Truncate(time.Second), SignsFrom: signsFrom}
	return encodeRing(ringDoc{Gen: st.doc.Gen + 1, Keys: append([]ringMember{next}, keep...)})
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

// info lists st as the admin API shows it at now.
func (st *ringState) info(now time.Time) KeyRing {
	r := KeyRing{KID: st.at(now).signKID, Keys: make([]KeyInfo, len(st.kids))}
	if !st.pending(now).IsZero() {
		r.Next = st.kids[0]
	}
	for i, m := range st.doc.Keys {
		r.Keys[i] = KeyInfo{KID: st.kids[i], Created: m.Created, SignsFrom: m.SignsFrom, VerifyUntil: m.VerifyUntil}
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

// Rotate adds a new signing key to the ring in the store, in one step.
// Every node lists it in its JWKS and verifies with it at once (or within
// DefaultKeyReload), and signs with it from publishDelay after now; until
// then the current key signs. The current key then verifies until the
// last token it signed expires: accessTTL, the leeway and switchMargin
// after the switch. Keys that no longer verify leave the ring with the
// rotation. While the newest key does not sign yet, Rotate refuses with
// ErrRotationPending: that key is published already, and a second one
// would only put the switch off. HS256 and verify-only keys have no ring
// to rotate: ErrNoKeyRing, saying why.
func (k *Keys) Rotate(now time.Time, publishDelay, accessTTL, leeway time.Duration) (KeyRing, error) {
	r, err := k.keyRing()
	if err != nil {
		return KeyRing{}, err
	}
	// Whole seconds, as tokens count time: rounded up, so that the delay is
	// never shorter.
	signsFrom := now.Add(publishDelay + time.Second - 1).Truncate(time.Second)
	verifyFor := accessTTL + leeway + switchMargin
	st, err := r.update(func(held *ringState) (*ringState, error) { return held.rotated(now, signsFrom, verifyFor) })
	if err != nil {
		return KeyRing{}, err
	}
	return st.info(now), nil
}

// Ring lists the ring of signing keys as held, at now; ErrNoKeyRing,
// saying why, for HS256 and verify-only keys.
func (k *Keys) Ring(now time.Time) (KeyRing, error) {
	r, err := k.keyRing()
	if err != nil {
		return KeyRing{}, err
	}
	return r.cur.Load().info(now), nil
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
// made, from when it signs (absent for a key that signed from its start)
// and until when it verifies tokens (absent for the newest key).
type KeyInfo struct {
	KID         string    `json:"kid"`
	Created     time.Time `json:"created"`
	SignsFrom   time.Time `json:"signs_from,omitzero"`
	VerifyUntil time.Time `json:"verify_until,omitzero"`
}

// KeyRing lists the signing-key ring: KID is the key that signs now, Next
// the newest key while it is published but does not sign yet (its
// SignsFrom says from when), and Keys every key, the newest first.
type KeyRing struct {
	KID  string    `json:"kid"`
	Next string    `json:"next,omitempty"`
	Keys []KeyInfo `json:"keys"`
}
