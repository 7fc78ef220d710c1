package auth

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified access token says.
type Claims struct {
	// Subject is the user id (sub), the <sub> of /user/<sub>/ destinations.
	Subject string
	// Name is the display name: the token's name claim (OpenID Connect's,
	// which an external identity provider may set; stompd's own tokens
	// carry the user's name when it has one), or Subject without one.
	Name string
	// SID names the login (the refresh-token family) the token belongs to.
	// Tokens issued elsewhere (verify-only mode) may have none.
	SID string
	// ID is the token's jti.
	ID       string
	Roles    []string
	IssuedAt time.Time
	Expires  time.Time
}

// HasRole reports whether c carries role.
func (c Claims) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// tokenUseAccess is the token_use claim of access tokens.
const tokenUseAccess = "access"

// jwtClaims is the JSON payload of an access token.
type jwtClaims struct {
	jwt.RegisteredClaims
	SID      string   `json:"sid,omitempty"`
	Name     string   `json:"name,omitempty"`
	Roles    []string `json:"roles"`
	TokenUse string   `json:"token_use"`
}

func (j *jwtClaims) claims() Claims {
	c := Claims{Subject: j.Subject, Name: cmp.Or(j.Name, j.Subject), SID: j.SID, ID: j.ID, Roles: j.Roles}
	if j.IssuedAt != nil {
		c.IssuedAt = j.IssuedAt.Time
	}
	if j.ExpiresAt != nil {
		c.Expires = j.ExpiresAt.Time
	}
	return c
}

// issueTime is the time a token issued now says it was issued: JWT times
// are whole seconds.
func (s *Service) issueTime() time.Time { return s.now().Truncate(time.Second) }

// issueAccess signs a new access token for u in login sid, issued at now
// (see issueTime).
func (s *Service) issueAccess(u User, sid string, now time.Time) (string, Claims, error) {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	jc := &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.AccessTTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        randomToken(16),
		},
		SID:      sid,
		Name:     u.Name,
		Roles:    roles,
		TokenUse: tokenUseAccess,
	}
	keys := s.keys.signing(now)
	t := jwt.NewWithClaims(keys.signer, jc)
	t.Header["kid"] = keys.signKID
	signed, err := t.SignedString(keys.signKey)
	if err != nil {
		return "", Claims{}, err
	}
	return signed, jc.claims(), nil
}

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// opaqueBytes is the entropy of tickets and refresh tokens: 256 bits.
const opaqueBytes = 32

// hashToken is how opaque tokens (tickets, refresh tokens) are stored and
// looked up: by their SHA-256 only. It hashes the string's bytes in place
// (Sum256 neither keeps nor modifies them).
func hashToken(t string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(t), len(t)))
}
