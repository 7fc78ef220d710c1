package auth

import (
	"strings"
)

// Credential is an access token as a client presented it: with
// Authorization set, the value of an Authorization header, "Bearer
// <token>"; without, the bare token (a STOMP CONNECT's passcode). The zero
// value is no credential. A broker hands over what the frame carried;
// auth reads the scheme and checks the token.
type Credential struct {
	Value         string
	Authorization bool
}

// Right is what a request of a session needs on its destination.
type Right uint8

const (
	// NoRight: the request needs a valid session only (ACK, BEGIN, ...).
	NoRight Right = iota
	// ReadRight: a SUBSCRIBE needs the right to read its destination.
	ReadRight
	// WriteRight: a SEND needs the right to write its destination.
	WriteRight
)

// Request is a request of a STOMP session as the broker resolved it.
type Request struct {
	Right Right
	// Destination is where the request leads, as the broker routes it: a
	// SUBSCRIBE to the session's own user destination names it in full,
	// /user/<subject>/queue/<name>.
	Destination string
	// OtherUser is set when Destination is another user's /user/
	// destination.
	OtherUser bool
	// Credential is the token the request carries, if any.
	Credential Credential
}

// token returns the access token of c.
func (c Credential) token() (string, error) {
	if c.Authorization {
		return bearer(c.Value)
	}
	if c.Value != "" {
		return c.Value, nil
	}
	return "", ErrMissingToken.with(reasonMissing, "missing access token: send Authorization: Bearer <token> (or the token as passcode)")
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(v string) (string, error) {
	if len(v) > MaxTokenSize+len("Bearer ") {
		return "", ErrInvalidToken.with(reasonOversized, "Authorization header too large")
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrInvalidToken.with(reasonMalformed, "Authorization must use the Bearer scheme")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", ErrMissingToken.with(reasonMissing, "missing access token after Bearer")
	}
	return tok, nil
}

// Connect authenticates a CONNECT: its credential must hold a valid access
// token and, when the upgrade named a subject, one of that subject. The
// returned Claims are the session's.
func (s *Service) Connect(cred Credential, upgradeSubject string) (Claims, error) {
	c, err := s.connect(cred, upgradeSubject)
	s.record(stageConnect, err)
	return c, err
}

func (s *Service) connect(cred Credential, upgradeSubject string) (Claims, error) {
	c, err := s.verifyCredential(cred)
	if err != nil {
		return Claims{}, err
	}
	if upgradeSubject != "" && c.Subject != upgradeSubject {
		return Claims{}, ErrInvalidToken.with(reasonSubjectMismatch, "the access token's subject is not the ticket's")
	}
	return c, nil
}

// Authorize decides on a request of a session whose claims are c and
// returns the session's claims from now on.
//
// A request carrying a credential must bring a valid access token of the
// same subject; the newer of the two tokens becomes the session's (so the
// session is extended). A token of another subject is refused (forbidden).
// Without a credential, the session's own token must still be valid
// (ErrTokenExpired, ErrSessionRevoked).
//
// WriteRight and ReadRight are then checked against the rules (see Rule).
// Reading another user's destination is refused whatever the rules: only
// its owner may subscribe to a user destination.
func (s *Service) Authorize(c Claims, r Request) (Claims, error) {
	c, err := s.authorize(c, r)
	switch {
	case r.Right == ReadRight:
		s.record(stageSubscribe, err)
	case err != nil || r.Right == WriteRight:
		s.record(stageSend, err)
	}
	return c, err
}

func (s *Service) authorize(c Claims, r Request) (Claims, error) {
	c, err := s.sessionClaims(c, r.Credential)
	if err != nil {
		return Claims{}, err
	}
	switch r.Right {
	case WriteRight:
		return c, s.checkRight(c, r.Destination, true)
	case ReadRight:
		if r.OtherUser {
			return Claims{}, ErrForbidden.with(reasonForbidden, "cannot subscribe to another user's destination "+truncate(r.Destination, 200))
		}
		return c, s.checkRight(c, r.Destination, false)
	}
	return c, nil
}

// Refresh extends a session in band: cred must be an Authorization with a
// valid access token of the session's subject, and the session's claims
// become that token's when it is the newer. It is counted as a SEND, the
// frame that carries it.
func (s *Service) Refresh(c Claims, cred Credential) (Claims, error) {
	c, err := s.refresh(c, cred)
	s.record(stageSend, err)
	return c, err
}

func (s *Service) refresh(c Claims, cred Credential) (Claims, error) {
	c, err := s.sessionClaims(c, cred)
	if err != nil {
		return Claims{}, err
	}
	if !cred.Authorization {
		return Claims{}, ErrMissingToken.with(reasonMissing, "an in-band refresh needs an Authorization header with the fresh access token")
	}
	return c, nil
}

// verifyCredential verifies the access token cred holds.
func (s *Service) verifyCredential(cred Credential) (Claims, error) {
	tok, err := cred.token()
	if err != nil {
		return Claims{}, err
	}
	return s.VerifyAccess(tok)
}

// sessionClaims returns the session's claims after cred, if any.
func (s *Service) sessionClaims(c Claims, cred Credential) (Claims, error) {
	if cred == (Credential{}) {
		return c, s.SessionError(c)
	}
	fresh, err := s.verifyCredential(cred)
	if err != nil {
		return Claims{}, err
	}
	if fresh.Subject != c.Subject {
		return Claims{}, ErrForbidden.with(reasonSubjectMismatch, "the Authorization header is for another subject than the session's")
	}
	if fresh.Expires.Before(c.Expires) {
		return c, s.SessionError(c)
	}
	return fresh, nil
}

func (s *Service) checkRight(c Claims, dest string, write bool) error {
	if s.rules.allows(c, dest, write) {
		return nil
	}
	verb := "subscribe to"
	if write {
		verb = "send to"
	}
	return ErrForbidden.with(reasonForbidden, "not allowed to "+verb+" "+truncate(dest, 200))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
