package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxRefreshTokenSize bounds a refresh token as received; real ones are 43
// bytes.
const maxRefreshTokenSize = 256

// tokenPair is what login and refresh hand out.
type tokenPair struct {
	access  string
	refresh string
	claims  Claims
}

// startLogin creates a refresh family for u, whose password was checked,
// and its first access token.
func (s *Service) startLogin(u User) (tokenPair, error) {
	now := s.issueTime()
	refresh := randomToken(opaqueBytes)
	rt, err := s.opts.Store.CreateRefresh(hashToken(refresh), u.ID, now.Add(s.opts.RefreshTTL), now.Add(s.opts.AccessTTL))
	if err != nil {
		return tokenPair{}, fmt.Errorf("auth: creating refresh token: %w", err)
	}
	if u, err = s.confirmLogin(u, rt.Family); err != nil {
		return tokenPair{}, err
	}
	return s.pair(u, rt.Family, refresh, now)
}

// confirmLogin reads again the user checked, whose login family has been
// created, and returns it as it is now. A change to the account ends the
// families that exist when it is made, so one made between the check and
// the family's creation would miss this login: a new password or a
// deletion then ends it here as a wrong password, disabling as a disabled
// account, and new roles go into its tokens.
func (s *Service) confirmLogin(checked User, family string) (User, error) {
	u, err := s.opts.Store.UserByID(checked.ID)
	switch {
	case errors.Is(err, ErrUserNotFound), err == nil && !bytes.Equal(u.PasswordHash, checked.PasswordHash):
		return User{}, joinErr(ErrInvalidCredentials, s.endLogin(family, time.Time{}))
	case err != nil:
		return User{}, joinErr(fmt.Errorf("auth: user of a new login: %w", err), s.endLogin(family, time.Time{}))
	case u.Disabled:
		return User{}, joinErr(ErrAccountDisabled, s.endLogin(family, time.Time{}))
	}
	return u, nil
}

// pair signs the access token, issued at now, that goes with a new refresh
// token; the store has recorded its expiry with the refresh token.
func (s *Service) pair(u User, family, refresh string, now time.Time) (tokenPair, error) {
	access, c, err := s.issueAccess(u, family, now)
	if err != nil {
		return tokenPair{}, fmt.Errorf("auth: signing access token: %w", err)
	}
	return tokenPair{access: access, refresh: refresh, claims: c}, nil
}

// rotate trades a refresh token for a new pair. Everything that can fail
// is done before the store commits the rotation (and records the new
// access token with it), so a client whose refresh failed can retry with
// the same token. Reusing a rotated token fails, and its family is revoked
// (by the store) and denied (here), so the access tokens and sessions of
// that login end too.
func (s *Service) rotate(token string) (tokenPair, error) {
	if !s.canIssue() {
		return tokenPair{}, ErrLoginDisabled
	}
	if token == "" {
		return tokenPair{}, ErrInvalidRefresh.with(reasonMissing, "missing refresh token: send it in the body or the stompd_refresh cookie")
	}
	if len(token) > maxRefreshTokenSize {
		return tokenPair{}, ErrInvalidRefresh.with(reasonOversized, "refresh token too large")
	}
	old := hashToken(token)
	family, u, err := s.refreshUser(old)
	if err != nil {
		return tokenPair{}, err
	}
	now := s.issueTime()
	next := randomToken(opaqueBytes)
	if _, err := s.opts.Store.RotateRefresh(old, hashToken(next), now.Add(s.opts.RefreshTTL), now.Add(s.opts.AccessTTL)); err != nil {
		return tokenPair{}, s.rotateError(family, err)
	}
	return s.pair(u, family, next, now)
}

// refreshUser returns the family of the refresh token with hash old and the
// user it was issued to, as they are now, changing nothing.
func (s *Service) refreshUser(old [32]byte) (string, User, error) {
	rt, err := s.opts.Store.LookupRefresh(old)
	if err != nil {
		return "", User{}, s.rotateError(rt.Family, err)
	}
	u, err := s.opts.Store.UserByID(rt.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return "", User{}, joinErr(ErrInvalidRefresh.with(reasonUnknown, "refresh token of a deleted user"), s.endLogin(rt.Family, time.Time{}))
	}
	if err != nil {
		return "", User{}, fmt.Errorf("auth: user of refresh token: %w", err)
	}
	if u.Disabled {
		return "", User{}, joinErr(ErrInvalidRefresh.with(reasonAccountDisabled, "refresh token of a disabled account"), s.endLogin(rt.Family, time.Time{}))
	}
	return rt.Family, u, nil
}

// rotateError turns a failed look-up or rotation of a token of family into
// the answer; a reuse also ends the login.
func (s *Service) rotateError(family string, err error) error {
	switch {
	case errors.Is(err, ErrRefreshNotFound):
		return ErrInvalidRefresh.with(reasonUnknown, "unknown refresh token")
	case errors.Is(err, ErrRefreshExpired):
		return ErrInvalidRefresh.with(reasonExpired, "refresh token expired")
	case errors.Is(err, ErrRefreshRevoked):
		return ErrInvalidRefresh.with(reasonRevoked, "refresh token revoked")
	case errors.Is(err, ErrRefreshReused):
		e := ErrInvalidRefresh.with(reasonReused, "refresh token already used: its login is revoked")
		return joinErr(e, s.endLogin(family, time.Time{}))
	}
	return fmt.Errorf("auth: refresh token: %w", err)
}

// logout ends the login of c and, when refresh names another login of the
// same user, that one too; c's jti is denied until it expires. When the
// store cannot revoke c's login, logout ends nothing and says so. A service
// account's token (sub client:<id>) ends alone, with the sessions that hold
// it: all of a client's tokens share its login id, which only deleting the
// client ends, so that one backend instance's logout leaves the others and
// the client's new tokens working.
func (s *Service) logout(c Claims, refresh string) error {
	if strings.HasPrefix(c.Subject, ClientSubjectPrefix) {
		return s.endToken(c)
	}
	if err := s.endLogin(c.SID, c.Expires); err != nil {
		return err // nothing ended: the client tries again
	}
	var err error
	if refresh != "" && len(refresh) <= maxRefreshTokenSize && s.opts.Store != nil {
		rt, lerr := s.opts.Store.LookupRefresh(hashToken(refresh))
		if lerr == nil && rt.UserID == c.Subject && rt.Family != c.SID {
			err = s.endLogin(rt.Family, time.Time{})
		}
	}
	if c.SID == "" {
		// A token issued elsewhere names no login: it ends by its own id.
		return errors.Join(err, s.endToken(c))
	}
	return errors.Join(err, s.denied.deny(c.ID, c.Expires, s.now()))
}

// endToken denies c's jti until c expires and closes the live sessions
// that hold that very token.
func (s *Service) endToken(c Claims) error {
	err := s.denied.deny(c.ID, c.Expires, s.now())
	if c.ID != "" && s.opts.OnLogout != nil {
		s.opts.OnLogout(c.ID)
	}
	return err
}

// endLogin revokes refresh family sid, denies its access tokens until the
// last one it may have issued expires (now plus the access TTL, or
// lastExpiry when later), and closes its live sessions.
func (s *Service) endLogin(sid string, lastExpiry time.Time) error {
	if sid == "" {
		return nil
	}
	now := s.now()
	until := now.Add(s.opts.AccessTTL + s.opts.Leeway)
	if lastExpiry.After(until) {
		until = lastExpiry
	}
	// Denied here first, so that the denial a shared store publishes when
	// the family is revoked is no news to this node's watch; taken back
	// when the store could not revoke it, so that a login whose end
	// failed (a full disk) is left whole, to be ended by a retry.
	fresh := s.denied.add(sid, until, now)
	if s.opts.Store != nil {
		if err := s.opts.Store.RevokeFamily(sid); err != nil && !errors.Is(err, ErrRefreshNotFound) {
			if fresh {
				s.denied.remove(sid)
			}
			return fmt.Errorf("auth: revoking refresh family: %w", err)
		}
	}
	err := s.denied.deny(sid, until, now)
	if s.opts.OnLogout != nil {
		s.opts.OnLogout(sid)
	}
	return err
}

// joinErr returns e, or e joined with a failure that happened on the way.
func joinErr(e, other error) error {
	if other == nil {
		return e
	}
	return errors.Join(e, other)
}
