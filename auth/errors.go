package auth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is every error auth hands to a caller that answers a peer. Error
// is the text for people (exactly "token expired" and "session revoked" for
// those two cases), Status the HTTP status and Name the JSON body's "error"
// field. Name is also what the error is: a STOMP broker answers the errors
// that match ErrTokenExpired, ErrSessionRevoked and ErrForbidden with ERROR
// codes of their own, and every other with its code for unauthorized.
//
// Compare with errors.Is against the exported Err values below: two Errors
// match when their Names do, whatever their messages.
type Error struct {
	status int
	name   string
	reason reason
	msg    string
	retry  time.Duration
}

func (e *Error) Error() string { return e.msg }

// Status returns the HTTP status code.
func (e *Error) Status() int { return e.status }

// Name returns the machine-readable code of the JSON error body.
func (e *Error) Name() string { return e.name }

// RetryAfter is how long a throttled client must wait, or one told the
// store is unavailable should wait before trying again; zero otherwise.
func (e *Error) RetryAfter() time.Duration { return e.retry }

// Is reports whether target is an *Error with the same Name.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.name == e.name
}

// with returns a copy of e carrying a metric reason and a precise message.
func (e *Error) with(r reason, msg string) *Error {
	c := *e
	c.reason = r
	c.msg = msg
	return &c
}

// Errors auth returns, for errors.Is. The instances actually returned carry
// more precise messages.
var (
	ErrInvalidRequest     = newError(http.StatusBadRequest, "invalid_request", reasonMalformed, "invalid request")
	ErrInvalidToken       = newError(http.StatusUnauthorized, "invalid_token", reasonMalformed, "invalid access token")
	ErrMissingToken       = newError(http.StatusUnauthorized, "missing_token", reasonMissing, "missing access token")
	ErrTokenExpired       = newError(http.StatusUnauthorized, "token_expired", reasonExpired, "token expired")
	ErrSessionRevoked     = newError(http.StatusUnauthorized, "session_revoked", reasonRevoked, "session revoked")
	ErrInvalidTicket      = newError(http.StatusUnauthorized, "invalid_ticket", reasonUnknown, "invalid ticket")
	ErrInvalidRefresh     = newError(http.StatusUnauthorized, "invalid_refresh_token", reasonUnknown, "invalid refresh token")
	ErrInvalidCredentials = newError(http.StatusUnauthorized, "invalid_credentials", reasonBadCredentials, "wrong email or password")
	ErrTooManyAttempts    = newError(http.StatusTooManyRequests, "too_many_attempts", reasonThrottled, "too many failed login attempts")
	ErrLoginBusy          = newError(http.StatusTooManyRequests, "login_busy", reasonBusy, "too many logins in progress")
	ErrLoginDisabled      = newError(http.StatusForbidden, "login_disabled", reasonDisabled, "login is disabled: this server only verifies tokens issued elsewhere")
	ErrAccountDisabled    = newError(http.StatusForbidden, "account_disabled", reasonAccountDisabled, "this account is disabled: an administrator can enable it")
	ErrOriginNotAllowed   = newError(http.StatusForbidden, "origin_not_allowed", reasonOrigin, "origin not allowed")
	ErrForbidden          = newError(http.StatusForbidden, "forbidden", reasonForbidden, "forbidden")
	ErrMethodNotAllowed   = newError(http.StatusMethodNotAllowed, "method_not_allowed", reasonMalformed, "method not allowed")
	ErrTooManyTickets     = newError(http.StatusTooManyRequests, "too_many_tickets", reasonLimit, "too many outstanding tickets for this login")
	ErrBusy               = newError(http.StatusServiceUnavailable, "busy", reasonInternal, "too many outstanding tickets, try again shortly")
	ErrTooManyKeys        = newError(http.StatusConflict, "too_many_keys", reasonLimit, "too many signing keys still verify tokens")
	ErrRotationPending    = newError(http.StatusConflict, "rotation_pending", reasonLimit, "a rotation is already pending")
	ErrNoKeyRing          = newError(http.StatusConflict, "no_key_rotation", reasonDisabled, "this server keeps no signing keys to rotate")
	ErrInternal           = newError(http.StatusInternalServerError, "server_error", reasonInternal, "internal error")
	// ErrUnavailable: the store cannot be reached, or cannot write (its
	// disk is full). A Store wraps such failures with it
	// (fmt.Errorf("...: %w", ErrUnavailable)), and the HTTP API answers
	// them 503 with Retry-After: the request changed nothing, and the
	// client should try it again.
	ErrUnavailable = &Error{status: http.StatusServiceUnavailable, name: "unavailable", reason: reasonUnavailable,
		msg: "the auth store is unavailable, try again shortly", retry: UnavailableRetry}
)

// UnavailableRetry is the Retry-After of an answer 503 unavailable.
const UnavailableRetry = 5 * time.Second

func newError(status int, name string, r reason, msg string) *Error {
	return &Error{status: status, name: name, reason: r, msg: msg}
}

// reason is the bounded label value of stompd_auth_failures_total{reason}.
type reason uint8

const (
	reasonMalformed reason = iota
	reasonMissing
	reasonOversized
	reasonBadSignature
	reasonUnknownKey
	reasonExpired
	reasonNotYetValid
	reasonInvalidClaims
	reasonWrongKind
	reasonRevoked
	reasonUnknown
	reasonReused
	reasonSubjectMismatch
	reasonBadCredentials
	reasonThrottled
	reasonDisabled
	reasonOrigin
	reasonForbidden
	reasonInternal
	reasonBusy
	reasonLimit
	reasonUnavailable
	reasonAccountDisabled
	numReasons
)

var reasonNames = [numReasons]string{
	reasonMalformed:       "malformed",
	reasonMissing:         "missing",
	reasonOversized:       "oversized",
	reasonBadSignature:    "bad_signature",
	reasonUnknownKey:      "unknown_key",
	reasonExpired:         "expired",
	reasonNotYetValid:     "not_yet_valid",
	reasonInvalidClaims:   "invalid_claims",
	reasonWrongKind:       "wrong_kind",
	reasonRevoked:         "revoked",
	reasonUnknown:         "unknown",
	reasonReused:          "reused",
	reasonSubjectMismatch: "subject_mismatch",
	reasonBadCredentials:  "bad_credentials",
	reasonThrottled:       "throttled",
	reasonDisabled:        "disabled",
	reasonOrigin:          "origin",
	reasonForbidden:       "forbidden",
	reasonInternal:        "internal",
	reasonBusy:            "busy",
	reasonLimit:           "limit",
	reasonUnavailable:     "unavailable",
	reasonAccountDisabled: "account_disabled",
}

// storeError wraps an error of a store while doing what.
func storeError(what string, err error) error {
	return fmt.Errorf("auth: %s: %w", what, err)
}

// reasonOf returns the metric reason of err.
func reasonOf(err error) reason {
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	return reasonInternal
}
