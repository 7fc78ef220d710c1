package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// jwk is one JSON Web Key (RFC 7517) of the kinds auth understands: OKP
// Ed25519, RSA and EC P-256/384/521 public keys.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

var b64 = base64.RawURLEncoding

// maxJWKSKeys bounds the keys read from a JWKS file.
const maxJWKSKeys = 64

// ParseJWKS returns verify-only keys from a JSON Web Key Set. Keys whose
// "use" is other than "sig", and kinds auth does not know (such as "oct"
// secrets), are skipped; a set with no usable key is an error. A key
// without "kid" gets its RFC 7638 thumbprint; one without "alg" gets its
// kind's usual algorithm (RS256 for RSA).
func ParseJWKS(b []byte) (*Keys, error) {
	var set jwkSet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("auth: JWKS has %d keys, at most %d are accepted", len(set.Keys), maxJWKSKeys)
	}
	k := &Keys{}
	for _, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		pub, err := j.publicKey()
		if errors.Is(err, errUnsupportedJWK) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %q: %w", j.Kid, err)
		}
		if _, err := k.addPublic(j.Kid, j.Alg, pub); err != nil {
			return nil, fmt.Errorf("auth: JWKS key %q: %w", j.Kid, err)
		}
	}
	return k.finish()
}

var errUnsupportedJWK = errors.New("unsupported key type")

// publicKey decodes j into an ed25519.PublicKey, *rsa.PublicKey or
// *ecdsa.PublicKey.
func (j jwk) publicKey() (any, error) {
	switch j.Kty {
	case "OKP":
		x, err := b64.DecodeString(j.X)
		if err != nil || j.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key (2048 bits at least)")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		return j.ecKey()
	}
	return nil, errUnsupportedJWK
}

func (j jwk) ecKey() (any, error) {
	curve := curveByName(j.Crv)
	if curve == nil {
		return nil, errUnsupportedJWK
	}
	x, err1 := b64.DecodeString(j.X)
	y, err2 := b64.DecodeString(j.Y)
	if err1 != nil || err2 != nil {
		return nil, errors.New("bad EC key coordinates")
	}
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

func curveByName(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

// encodeJWK returns the public JWK of pub, with its usual algorithm.
func encodeJWK(pub any) (jwk, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p), Alg: "EdDSA"}, nil
	case *rsa.PublicKey:
		e := big.NewInt(int64(p.E)).Bytes()
		return jwk{Kty: "RSA", N: b64.EncodeToString(p.N.Bytes()), E: b64.EncodeToString(e), Alg: "RS256"}, nil
	case *ecdsa.PublicKey:
		return encodeECJWK(p)
	}
	return jwk{}, fmt.Errorf("auth: unsupported public key type %T", pub)
}

func encodeECJWK(p *ecdsa.PublicKey) (jwk, error) {
	point, err := p.Bytes()
	if err != nil {
		return jwk{}, fmt.Errorf("auth: EC key: %w", err)
	}
	n := (len(point) - 1) / 2
	name := p.Curve.Params().Name
	alg := map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[name]
	if alg == "" {
		return jwk{}, fmt.Errorf("auth: unsupported curve %s", name)
	}
	return jwk{Kty: "EC", Crv: name, X: b64.EncodeToString(point[1 : 1+n]), Y: b64.EncodeToString(point[1+n:]), Alg: alg}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint: the SHA-256 of the required
// members in lexicographic order, base64url-encoded. The member values are
// base64url text, which needs no JSON escaping.
func (j jwk) thumbprint() string {
	var s string
	switch j.Kty {
	case "OKP":
		s = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	case "RSA":
		s = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	case "EC":
		s = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	}
	sum := sha256.Sum256([]byte(s))
	return b64.EncodeToString(sum[:])
}

// encodeJWKS renders the public keys of k as a JWKS document.
func (k *Keys) encodeJWKS() ([]byte, error) {
	set := jwkSet{Keys: []jwk{}}
	for _, v := range k.byKID {
		if _, secret := v.key.([]byte); secret {
			continue
		}
		j, err := encodeJWK(v.key)
		if err != nil {
			return nil, err
		}
		j.Kid, j.Alg, j.Use = v.kid, v.alg, "sig"
		set.Keys = append(set.Keys, j)
	}
	slices.SortFunc(set.Keys, func(a, b jwk) int { return strings.Compare(a.Kid, b.Kid) })
	return json.Marshal(set)
}
