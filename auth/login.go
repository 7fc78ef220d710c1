package auth

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// login checks a password and starts a login. Throttled keys are refused
// before the password is looked at; an unknown email is compared against a
// dummy hash so that the answer takes as long as for a known one.
func (s *Service) login(email, password, addr string) (tokenPair, error) {
	if !s.canIssue() {
		return tokenPair{}, ErrLoginDisabled
	}
	email = strings.TrimSpace(email)
	if email == "" || password == "" {
		return tokenPair{}, ErrInvalidRequest.with(reasonMalformed, "email and password are required")
	}
	now := s.now()
	if wait := s.throttle.wait(email, addr, now); wait > 0 {
		e := ErrTooManyAttempts.with(reasonThrottled, "too many failed login attempts: try again later")
		e.retry = wait
		return tokenPair{}, e
	}
	u, err := s.opts.Users.UserByEmail(email)
	hash := s.dummyHash
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, ErrUserNotFound):
		return tokenPair{}, fmt.Errorf("auth: looking up user: %w", err)
	}
	if cmpErr := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || cmpErr != nil {
		s.throttle.fail(email, addr, now)
		return tokenPair{}, ErrInvalidCredentials
	}
	s.throttle.succeed(email)
	return s.startLogin(u)
}
