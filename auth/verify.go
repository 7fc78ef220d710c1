package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize bounds an access token, in bytes, wherever one arrives.
const MaxTokenSize = 8 << 10

// VerifyAccess verifies an access token: signature against the configured
// keys only, algorithm from the allow-list, exp required, iss, aud, iat,
// token_use "access", a sub, and neither its jti nor its sid denied. The
// token is valid until its exp exactly; the leeway only forgives iat and nbf
// set slightly ahead by another clock. Verified tokens are cached until they
// expire, so verifying the same token again costs two map look-ups. A token without a jti (one issued elsewhere)
// gets "sha256:" and its hash as ID, so that logout can deny it. The
// returned Claims' Roles is shared: do not modify it.
func (s *Service) VerifyAccess(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissingToken
	}
	if len(token) > MaxTokenSize {
		return Claims{}, ErrInvalidToken.with(reasonOversized, "access token too large")
	}
	now := s.now()
	c, ok := s.cache.get(token, now)
	if !ok {
		var err error
		if c, err = s.parse(token); err != nil {
			return Claims{}, err
		}
		if c.ID == "" {
			key := hashToken(token)
			c.ID = "sha256:" + b64.EncodeToString(key[:])
		}
		s.cache.put(strings.Clone(token), c, now)
	}
	if err := s.sessionError(c, now); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// SessionError reports whether a session built on c must end now:
// ErrTokenExpired once c.Expires is reached, ErrSessionRevoked after its
// login was logged out, nil otherwise. The broker calls it when a session's
// deadline fires.
func (s *Service) SessionError(c Claims) error { return s.sessionError(c, s.now()) }

// Epoch returns a number that changes whenever a token or login is denied
// (or a denial taken back), before the call that denies returns. Nothing
// else changes what Authorize decides for the same claims on a request
// without a credential, until the claims expire: the rules are fixed at
// New. A caller may so reuse an allowing decision while the epoch stays
// the same and the claims have not expired.
func (s *Service) Epoch() uint64 { return s.denied.epoch.Load() }

func (s *Service) sessionError(c Claims, now time.Time) error {
	if s.denied.revoked(c, now) {
		return ErrSessionRevoked
	}
	if !now.Before(c.Expires) {
		return ErrTokenExpired
	}
	return nil
}

func (s *Service) parse(token string) (Claims, error) {
	var jc jwtClaims
	if _, err := s.parser.ParseWithClaims(token, &jc, s.keys.keyFunc); err != nil {
		return Claims{}, jwtError(err)
	}
	if jc.TokenUse != tokenUseAccess {
		return Claims{}, ErrInvalidToken.with(reasonWrongKind, "invalid access token: token_use is not \"access\"")
	}
	if jc.Subject == "" {
		return Claims{}, ErrInvalidToken.with(reasonInvalidClaims, "invalid access token: no sub claim")
	}
	return jc.claims(), nil
}

// newParser returns the JWT parser with every check auth relies on.
func newParser(o *Options, methods []string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Now),
		jwt.WithStrictDecoding(),
	)
}

// jwtError maps a jwt parse error to an *Error with a metric reason.
func jwtError(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrInvalidToken.with(reasonMalformed, "invalid access token: malformed")
	case errors.Is(err, errUnknownKey), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrInvalidToken.with(reasonUnknownKey, "invalid access token: "+errUnknownKey.Error())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrInvalidToken.with(reasonBadSignature, "invalid access token: bad signature or algorithm")
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrInvalidToken.with(reasonNotYetValid, "invalid access token: not valid yet")
	}
	return ErrInvalidToken.with(reasonInvalidClaims, "invalid access token: "+claimsDetail(err))
}

// claimsDetail names the failed claim check without echoing token content.
func claimsDetail(err error) string {
	for _, e := range []error{jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenRequiredClaimMissing, jwt.ErrInvalidType} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "invalid claims"
}
