package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// UpgradeStrategy is a set of ways, beyond the ticket, to authenticate a
// WebSocket upgrade. A ticket is always accepted; the zero value accepts
// nothing else.
type UpgradeStrategy uint8

const (
	// UpgradeQueryToken accepts the access token as ?access_token=<jwt>.
	// Query strings end up in logs and browser history: prefer tickets.
	UpgradeQueryToken UpgradeStrategy = 1 << iota
	// UpgradeProtocolToken accepts the access token as one entry of
	// Sec-WebSocket-Protocol, written "bearer.<jwt>" (a JWT is made of
	// token characters, so it is a valid subprotocol name), next to the
	// STOMP subprotocols:
	//	new WebSocket(url, ["v12.stomp", "bearer." + accessToken])
	// The server never selects that entry as the subprotocol.
	UpgradeProtocolToken
	// UpgradeAnonymous lets an upgrade without credentials through; the
	// CONNECT must then carry the access token, within the broker's
	// connect timeout.
	UpgradeAnonymous
)

// ProtocolTokenPrefix starts the Sec-WebSocket-Protocol entry that carries
// an access token under UpgradeProtocolToken.
const ProtocolTokenPrefix = "bearer."

// upgradeStrategyNames names the strategies for ParseUpgradeStrategies;
// "ticket" is always on, and accepted for clarity.
var upgradeStrategyNames = []struct {
	name     string
	strategy UpgradeStrategy
}{
	{"ticket", 0},
	{"query", UpgradeQueryToken},
	{"protocol", UpgradeProtocolToken},
	{"anonymous", UpgradeAnonymous},
}

// UpgradeStrategyNames lists the names ParseUpgradeStrategies accepts.
func UpgradeStrategyNames() []string {
	names := make([]string, len(upgradeStrategyNames))
	for i, n := range upgradeStrategyNames {
		names[i] = n.name
	}
	return names
}

// ParseUpgradeStrategies parses a comma-separated list of the names
// UpgradeStrategyNames lists.
func ParseUpgradeStrategies(list string) (UpgradeStrategy, error) {
	var u UpgradeStrategy
	for _, name := range strings.Split(list, ",") {
		s, ok := upgradeStrategy(strings.TrimSpace(name))
		if !ok {
			return 0, fmt.Errorf("auth: unknown upgrade strategy %q (want a comma-separated list of %s)", name, strings.Join(UpgradeStrategyNames(), ", "))
		}
		u |= s
	}
	return u, nil
}

func upgradeStrategy(name string) (UpgradeStrategy, bool) {
	if name == "" {
		return 0, true
	}
	for _, n := range upgradeStrategyNames {
		if n.name == name {
			return n.strategy, true
		}
	}
	return 0, false
}

// AuthenticateUpgrade authenticates a WebSocket upgrade request and
// returns the subject the CONNECT's token must have ("" when the upgrade
// was let through unauthenticated under UpgradeAnonymous: then any valid
// token will do). It consumes ?ticket= when present; a ticket that is
// unknown, used, expired, or of a logged-out login fails even when other
// strategies are on. Errors are *Error with Status 401. The Origin check
// (403) is the caller's, with Origins.Check.
func (s *Service) AuthenticateUpgrade(r *http.Request) (subject string, err error) {
	subject, err = s.authenticateUpgrade(r)
	s.record(stageUpgrade, err)
	return subject, err
}

func (s *Service) authenticateUpgrade(r *http.Request) (string, error) {
	q := r.URL.Query()
	if q.Has("ticket") {
		return s.redeemTicket(q.Get("ticket"))
	}
	if s.opts.Upgrade&UpgradeQueryToken != 0 && q.Has("access_token") {
		c, err := s.VerifyAccess(q.Get("access_token"))
		return c.Subject, err
	}
	if s.opts.Upgrade&UpgradeProtocolToken != 0 {
		if tok, ok := protocolToken(r); ok {
			c, err := s.VerifyAccess(tok)
			return c.Subject, err
		}
	}
	if s.opts.Upgrade&UpgradeAnonymous != 0 {
		return "", nil
	}
	return "", ErrInvalidTicket.with(reasonMissing, "missing ticket: get one from POST /auth/ticket and open /ws?ticket=<ticket>")
}

// redeemTicket consumes a ticket and returns its subject.
func (s *Service) redeemTicket(t string) (string, error) {
	now := s.now()
	if len(t) > maxRefreshTokenSize {
		return "", ErrInvalidTicket.with(reasonOversized, "invalid ticket: too large")
	}
	rec, err := s.spendTicket(t, now)
	if err != nil {
		return "", err
	}
	if s.denied.revoked(Claims{ID: rec.JTI, SID: rec.SID}, now) {
		return "", ErrSessionRevoked
	}
	s.metrics.ticketAge.Observe(now.Sub(rec.Issued).Seconds())
	return rec.Subject, nil
}

// protocolToken finds the "bearer.<jwt>" entry of Sec-WebSocket-Protocol.
func protocolToken(r *http.Request) (string, bool) {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), ProtocolTokenPrefix); ok {
				return tok, true
			}
		}
	}
	return "", false
}

// IssueTicket trades a verified access token's claims for a ticket, valid
// for the ticket TTL but never beyond the token. It returns the ticket and
// its lifetime.
func (s *Service) IssueTicket(c Claims) (string, int, error) {
	now := s.now()
	t, expires, err := s.issueTicket(c, now)
	if err != nil {
		return "", 0, err
	}
	return t, int(expires.Sub(now) / time.Second), nil
}
