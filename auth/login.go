package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxCheckWait bounds how long a login waits for a free password check
// before it is answered 429: long enough for a burst of right-password
// logins (users reconnecting behind one NAT after a deploy) to be checked
// in turn, at some tens of checks a second.
const maxCheckWait = 5 * time.Second

// maxInFlightWait bounds how long a login waits for attempts in flight
// that hold the rest of a throttle limit to settle; inFlightPoll is how
// often it asks the throttle again meanwhile.
const (
	maxInFlightWait = 3 * time.Second
	inFlightPoll    = 20 * time.Millisecond
)

// login checks a password and starts a login. The attempt is noted by
// the throttle before the password is looked at, and refused there when
// its pair, address or account has failed too often; it counts as a
// failure only when the password was wrong.
func (s *Service) login(ctx context.Context, email, password, addr string) (tokenPair, error) {
	if !s.canIssue() {
		return tokenPair{}, ErrLoginDisabled
	}
	email = strings.TrimSpace(email)
	if email == "" || password == "" {
		return tokenPair{}, ErrInvalidRequest.with(reasonMalformed, "email and password are required")
	}
	a, err := s.reserveAttempt(ctx, AccountKey(email), addr, s.throttleLimits)
	if err != nil {
		return tokenPair{}, err
	}
	u, ok, err := s.checkPassword(ctx, email, password, addr)
	switch {
	case err != nil:
		return tokenPair{}, joinErr(err, s.settle(a, Unchecked))
	case !ok:
		return tokenPair{}, joinErr(ErrInvalidCredentials, s.settle(a, Failed))
	}
	if err := s.settle(a, Passed); err != nil {
		return tokenPair{}, err
	}
	if u.Disabled {
		// Said only to who knows the password, so that it tells nobody
		// else which accounts exist.
		return tokenPair{}, ErrAccountDisabled
	}
	return s.startLogin(u)
}

// reserveAttempt notes a login to account (the key of an email or a
// client) from addr with the throttle, or refuses it when its pair,
// address or account has failed too often under limits l. While attempts
// in flight hold the rest of a limit, it waits for them to settle, up to
// maxInFlightWait while the request lasts.
func (s *Service) reserveAttempt(ctx context.Context, account [32]byte, addr string, l ThrottleLimits) (Attempt, error) {
	ctx, cancel := context.WithTimeout(ctx, maxInFlightWait)
	defer cancel()
	poll := time.NewTicker(inFlightPoll)
	defer poll.Stop()
	for {
		a, wait, err := s.throttle.Reserve(account, addressKey(addr), l, s.now())
		switch {
		case errors.Is(err, ErrAttemptsInFlight):
			select {
			case <-poll.C:
				continue
			case <-ctx.Done():
				return Attempt{}, loginBusy()
			}
		case err != nil:
			return Attempt{}, storeError("counting login attempt", err)
		case wait > 0:
			e := ErrTooManyAttempts.with(reasonThrottled, "too many failed login attempts: try again later")
			e.retry = wait
			return Attempt{}, e
		}
		return a, nil
	}
}

func (s *Service) settle(a Attempt, o Outcome) error {
	if err := s.throttle.Settle(a, o); err != nil {
		return storeError("settling login attempt", err)
	}
	return nil
}

// checkPassword finds the user and compares the password with its hash.
// An unknown email is compared against a dummy hash, so that the answer
// takes as long as for a known one. At most Options.MaxPasswordChecks
// comparisons run at once, and at most half of them for one client
// address addr.
func (s *Service) checkPassword(ctx context.Context, email, password, addr string) (User, bool, error) {
	u, err := s.opts.Store.UserByEmail(email)
	hash := s.dummyHash
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, ErrUserNotFound):
		return User{}, false, fmt.Errorf("auth: looking up user: %w", err)
	}
	if busy := s.acquireCheck(ctx, addr); busy != nil {
		return User{}, false, busy
	}
	defer s.checks.release(addr)
	cmpErr := s.opts.checkPassword(hash, []byte(password))
	return u, err == nil && cmpErr == nil, nil
}

// acquireCheck takes a password-check slot for addr, waiting up to
// maxCheckWait while the request lasts.
func (s *Service) acquireCheck(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, maxCheckWait)
	defer cancel()
	if s.checks.acquire(ctx, addr) {
		return nil
	}
	return loginBusy()
}

// loginBusy is the answer to a login that waited too long for others in
// progress.
func loginBusy() error {
	e := ErrLoginBusy.with(reasonBusy, "too many logins in progress: try again in a second")
	e.retry = time.Second
	return e
}

// Unlock forgets the failed logins of the account with this email, from
// every address, so that it may log in again at once. It returns how many
// failures within the throttle window it forgot.
func (s *Service) Unlock(email string) (int, error) {
	n, err := s.throttle.Unlock(AccountKey(email), s.throttleLimits, s.now())
	if err != nil {
		return 0, storeError("clearing login throttle", err)
	}
	s.opts.Logger.Info("login throttle cleared", "email", strings.TrimSpace(email), "failures", n)
	return n, nil
}
