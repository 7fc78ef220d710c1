package auth

import (
	"strings"
	"unsafe"

	"github.com/stompd/stompd/stomp"
)

// RefreshDestination is the reserved destination of an in-band refresh: a
// SEND to it carries a fresh Authorization, extends the session, and is
// answered with its RECEIPT only (the broker routes it nowhere).
const RefreshDestination = "/sys/auth/refresh"

// Header names auth reads from frames. STOMP headers are case-sensitive;
// Authorization is also accepted in lower case.
const (
	headerAuthorization      = "Authorization"
	headerAuthorizationLower = "authorization"
	headerPasscode           = "passcode"
	headerDestination        = "destination"
)

// authorization returns f's Authorization header.
func authorization(f *stomp.Frame) ([]byte, bool) {
	if v, ok := f.Get(headerAuthorization); ok {
		return v, true
	}
	return f.Get(headerAuthorizationLower)
}

// ConnectCredentials returns the access token of a CONNECT or STOMP frame:
// the Authorization header's Bearer token, or else the passcode (login is
// ignored). ok is false when the frame has neither, or an Authorization of
// another scheme.
func ConnectCredentials(f *stomp.Frame) (token string, ok bool) {
	tok, err := frameToken(f)
	return strings.Clone(tok), err == nil
}

// frameToken returns the token of f's Authorization header, or of its
// passcode for CONNECT and STOMP frames. The string shares f's bytes, so
// that a SEND's token is not copied: it is valid only as long as f, and
// what keeps it must clone it.
func frameToken(f *stomp.Frame) (string, error) {
	if v, ok := authorization(f); ok {
		return bearer(view(v))
	}
	if f.Command == stomp.CONNECT || f.Command == stomp.STOMP {
		if v, ok := f.Get(headerPasscode); ok && len(v) > 0 {
			return view(v), nil
		}
	}
	return "", ErrMissingToken.with(reasonMissing, "missing access token: send Authorization: Bearer <token> (or the token as passcode)")
}

// view returns b's bytes as a string, without a copy; b must not change
// while the string is in use.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

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

// Connect authenticates a CONNECT (or STOMP) frame: its token (see
// ConnectCredentials) must be a valid access token and, when the upgrade
// named a subject, of that subject. The returned Claims are the session's.
func (s *Service) Connect(f *stomp.Frame, upgradeSubject string) (Claims, error) {
	c, err := s.connect(f, upgradeSubject)
	s.record(stageConnect, err)
	return c, err
}

func (s *Service) connect(f *stomp.Frame, upgradeSubject string) (Claims, error) {
	c, err := s.frameAccess(f)
	if err != nil {
		return Claims{}, err
	}
	if upgradeSubject != "" && c.Subject != upgradeSubject {
		return Claims{}, ErrInvalidToken.with(reasonSubjectMismatch, "the access token's subject is not the ticket's")
	}
	return c, nil
}

// AuthorizeFrame authorises a frame of a session whose claims are c and
// returns the session's claims from now on.
//
// A frame carrying Authorization must bring a valid access token of the
// same subject; the newer of the two tokens becomes the session's (so the
// session is extended). A token of another subject is refused (forbidden).
// Without Authorization, the session's own token must still be valid
// (ErrTokenExpired, ErrSessionRevoked).
//
// A SEND needs the write right on its destination and a SUBSCRIBE the read
// right (see Rule). A SUBSCRIBE to /user/queue/<name> or /user/topic/<name>
// is to the session's own /user/<subject>/queue/<name> (or topic) and is
// checked as such; one to /user/<user>/<dest> is refused unless user is the
// session's subject, whatever the rules: only its owner may subscribe to a
// user destination. A SEND to RefreshDestination needs an Authorization and
// nothing else. Other commands need no right.
func (s *Service) AuthorizeFrame(c Claims, f *stomp.Frame) (Claims, error) {
	st := stageSend
	if f.Command == stomp.SUBSCRIBE {
		st = stageSubscribe
	}
	c, err := s.authorizeFrame(c, f)
	if err != nil || f.Command == stomp.SEND || f.Command == stomp.SUBSCRIBE {
		s.record(st, err)
	}
	return c, err
}

func (s *Service) authorizeFrame(c Claims, f *stomp.Frame) (Claims, error) {
	c, err := s.frameClaims(c, f)
	if err != nil {
		return Claims{}, err
	}
	switch f.Command {
	case stomp.SEND:
		dest, _ := f.Get(headerDestination)
		if string(dest) == RefreshDestination {
			if _, ok := authorization(f); !ok {
				return Claims{}, ErrMissingToken.with(reasonMissing, "a SEND to "+RefreshDestination+" needs an Authorization header")
			}
			return c, nil
		}
		return c, s.checkRight(c, string(dest), true)
	case stomp.SUBSCRIBE:
		dest, _ := f.Get(headerDestination)
		own, ok := subscribeDestination(c, string(dest))
		if !ok {
			return Claims{}, ErrForbidden.with(reasonForbidden, "cannot subscribe to another user's destination "+truncate(string(dest), 200))
		}
		return c, s.checkRight(c, own, false)
	}
	return c, nil
}

// frameAccess verifies the access token f carries.
func (s *Service) frameAccess(f *stomp.Frame) (Claims, error) {
	tok, err := frameToken(f)
	if err != nil {
		return Claims{}, err
	}
	return s.VerifyAccess(tok)
}

// frameClaims returns the session's claims after f's Authorization, if any.
func (s *Service) frameClaims(c Claims, f *stomp.Frame) (Claims, error) {
	if _, ok := authorization(f); !ok {
		return c, s.SessionError(c)
	}
	fresh, err := s.frameAccess(f)
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

// subscribeDestination resolves a SUBSCRIBE's destination as the broker
// routes it: /user/queue/<name> and /user/topic/<name> are the session's
// own /user/<subject>/queue/<name> (or topic); any other /user/<user>/<dest>
// names its user, and ok is false when that is not the session's subject.
func subscribeDestination(c Claims, dest string) (string, bool) {
	rest, ok := strings.CutPrefix(dest, "/user/")
	if !ok {
		return dest, true
	}
	if hasName(rest, "queue/") || hasName(rest, "topic/") {
		return "/user/" + c.Subject + "/" + rest, true
	}
	user, _, _ := strings.Cut(rest, "/")
	return dest, user == c.Subject
}

// hasName reports whether s is prefix followed by a non-empty name.
func hasName(s, prefix string) bool {
	return len(s) > len(prefix) && strings.HasPrefix(s, prefix)
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
