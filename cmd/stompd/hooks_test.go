package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/broker"
)

// TestAuthErrorsAsBrokerErrors checks the one place auth's errors become
// the broker's: each keeps its message, status and name, and gets the
// ERROR code of its kind; wrapping does not change that, and errors of
// other packages pass unchanged.
func TestAuthErrorsAsBrokerErrors(t *testing.T) {
	tests := []struct {
		err  *auth.Error
		code string
	}{
		{auth.ErrInvalidRequest, broker.CodeUnauthorized},
		{auth.ErrInvalidToken, broker.CodeUnauthorized},
		{auth.ErrMissingToken, broker.CodeUnauthorized},
		{auth.ErrTokenExpired, broker.CodeTokenExpired},
		{auth.ErrSessionRevoked, broker.CodeSessionRevoked},
		{auth.ErrInvalidTicket, broker.CodeUnauthorized},
		{auth.ErrInvalidRefresh, broker.CodeUnauthorized},
		{auth.ErrInvalidCredentials, broker.CodeUnauthorized},
		{auth.ErrTooManyAttempts, broker.CodeUnauthorized},
		{auth.ErrLoginBusy, broker.CodeUnauthorized},
		{auth.ErrLoginDisabled, broker.CodeUnauthorized},
		{auth.ErrOriginNotAllowed, broker.CodeForbidden},
		{auth.ErrForbidden, broker.CodeForbidden},
		{auth.ErrMethodNotAllowed, broker.CodeUnauthorized},
		{auth.ErrTooManyTickets, broker.CodeUnauthorized},
		{auth.ErrBusy, broker.CodeUnauthorized},
		{auth.ErrInternal, broker.CodeUnauthorized},
		{auth.ErrRequestTooLarge, broker.CodeUnauthorized},
		{auth.ErrRequestTimeout, broker.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.err.Name(), func(t *testing.T) {
			for _, err := range []error{tt.err, fmt.Errorf("wrapped: %w", tt.err)} {
				var got *broker.Error
				if !errors.As(brokerError(err), &got) {
					t.Fatalf("%v is not a *broker.Error", brokerError(err))
				}
				want := broker.Error{Code: tt.code, Message: tt.err.Error(), Status: tt.err.Status(), Name: tt.err.Name()}
				if *got != want {
					t.Errorf("%v: got %+v, want %+v", err, *got, want)
				}
			}
		})
	}
	other := errors.New("disk on fire")
	if brokerError(other) != other || brokerError(nil) != nil {
		t.Error("errors of other packages are changed")
	}
}
