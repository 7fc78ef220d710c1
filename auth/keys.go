package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Ed25519KeyName is the KeyStore name of the Ed25519 seed.
const Ed25519KeyName = "jwt-ed25519-seed"

// minHS256Secret is the shortest HS256 secret accepted (RFC 7518 section 3.2:
// a key of the same size as the hash output, or larger).
const minHS256Secret = 32

// Keys is the set of keys tokens are signed and verified with. Tokens are
// verified only against these keys: a token's kid selects among them, and
// its jku, x5u and jwk headers are ignored. Keys is safe for concurrent
// use, and immutable but for those of LoadEd25519Keys, which follow the
// ring of signing keys in the store, and of NewRemoteJWKS, which follow
// the identity provider's JWKS.
type Keys struct {
	signer  jwt.SigningMethod // nil: verify-only
	signKey any
	signKID string
	byKID   map[string]verifyKey
	methods []string // algorithms accepted, in the order keys were added
	jwks    []byte
	remote  *remoteJWKS // keys fetched from an identity provider; nil: byKID
	ring    *keyRing    // the signing keys kept in a store; nil: signKey, byKID
}

type verifyKey struct {
	kid, alg string
	key      any
}

// CanSign reports whether these keys can issue tokens; verify-only keys
// cannot, and then login and refresh are disabled.
func (k *Keys) CanSign() bool { return k.signer != nil }

// JWKS returns the JSON Web Key Set of the public keys, as served at
// /.well-known/jwks.json (HS256 secrets are never published). The caller
// must not modify the returned slice.
func (k *Keys) JWKS() []byte { return k.signing(time.Time{}).jwks }

// signing returns the immutable keys that sign at now and verify: k
// itself, or those of the current version of its ring.
func (k *Keys) signing(now time.Time) *Keys {
	if k.ring != nil {
		return k.ring.cur.Load().at(now)
	}
	return k
}

// NewHS256Keys signs and verifies with an HMAC-SHA256 secret of at least 32
// bytes. Leading and trailing white space (such as a file's final newline)
// is trimmed. The kid is derived from the secret by a one-way hash.
func NewHS256Keys(secret []byte) (*Keys, error) {
	secret = bytes.TrimSpace(secret)
	if len(secret) < minHS256Secret {
		return nil, fmt.Errorf("auth: HS256 secret has %d bytes, want at least %d", len(secret), minHS256Secret)
	}
	sum := sha256.Sum256(append([]byte("stompd hs256 kid\x00"), secret...))
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	k := &Keys{signer: jwt.SigningMethodHS256, signKey: bytes.Clone(secret), signKID: kid}
	k.add(verifyKey{kid: kid, alg: jwt.SigningMethodHS256.Alg(), key: k.signKey})
	return k.finish()
}

// ParsePublicKeyPEM returns verify-only keys holding one PEM-encoded public
// key (PKIX "PUBLIC KEY": Ed25519, RSA for RS256, or ECDSA P-256/384/521).
func ParsePublicKeyPEM(b []byte) (*Keys, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("auth: public key: no PEM block found")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: public key: %w", err)
	}
	k := &Keys{}
	if _, err := k.addPublic("", "", pub); err != nil {
		return nil, err
	}
	return k.finish()
}

// addPublic adds a public key and returns its kid; kid and alg default to
// the key's thumbprint and its usual algorithm.
func (k *Keys) addPublic(kid, alg string, pub any) (string, error) {
	j, err := encodeJWK(pub)
	if err != nil {
		return "", err
	}
	if alg == "" {
		alg = j.Alg
	}
	if !algFits(alg, pub) {
		return "", fmt.Errorf("auth: algorithm %q does not fit a %s key", alg, j.Kty)
	}
	if kid == "" {
		kid = j.thumbprint()
	}
	k.add(verifyKey{kid: kid, alg: alg, key: pub})
	return kid, nil
}

func (k *Keys) add(v verifyKey) {
	if k.byKID == nil {
		k.byKID = make(map[string]verifyKey)
	}
	k.byKID[v.kid] = v
	for _, m := range k.methods {
		if m == v.alg {
			return
		}
	}
	k.methods = append(k.methods, v.alg)
}

func (k *Keys) finish() (*Keys, error) {
	if len(k.byKID) == 0 {
		return nil, errors.New("auth: no usable key")
	}
	jwks, err := k.encodeJWKS()
	if err != nil {
		return nil, err
	}
	k.jwks = jwks
	return k, nil
}

// keyFunc picks the verification key for t: the key its kid names, or, when
// the token has no kid, the only key of its algorithm (or, with remote
// keys or a ring, what their keyFunc picks). The key's algorithm
// must be the token's, so a public key is never used as an HMAC secret.
func (k *Keys) keyFunc(t *jwt.Token) (any, error) {
	if k.remote != nil {
		return k.remote.keyFunc(t)
	}
	if k.ring != nil {
		return k.ring.keyFunc(t)
	}
	alg := t.Method.Alg()
	if kid, ok := t.Header["kid"]; ok {
		s, _ := kid.(string)
		v, ok := k.byKID[s]
		if !ok || v.alg != alg {
			return nil, errUnknownKey
		}
		return v.key, nil
	}
	var found []jwt.VerificationKey
	for _, v := range k.byKID {
		if v.alg == alg {
			found = append(found, v.key)
		}
	}
	switch len(found) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return found[0], nil
	}
	return jwt.VerificationKeySet{Keys: found}, nil
}

var errUnknownKey = errors.New("no configured key matches the token's kid and alg")

// algFits reports whether alg can be verified with pub.
func algFits(alg string, pub any) bool {
	switch pub.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256", "ES384", "ES512":
			return true
		}
	}
	return false
}

// ErrKeyDiverged is returned by ReloadKeys when the store held another
// ring of signing keys than this process's, older: a node that started
// while the store had lost the ring made its own. ReloadKeys put this
// process's ring back, which every node then adopts; tokens signed with
// the other ring's keys no longer verify.
var ErrKeyDiverged = errors.New("auth: the store held other signing keys than this process's, made while it had lost them")
