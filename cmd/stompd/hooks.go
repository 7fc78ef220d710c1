package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/stomp"
)

// brokerAuth puts the auth service behind the broker's hooks: it turns
// token claims into session identities and back, and auth's errors into
// the broker's.
type brokerAuth struct {
	*auth.Service
}

func (a brokerAuth) AuthenticateUpgrade(r *http.Request) (string, error) {
	sub, err := a.Service.AuthenticateUpgrade(r)
	return sub, brokerError(err)
}

func (a brokerAuth) AuthenticateConnect(_ context.Context, c broker.ConnectInfo) (broker.Identity, error) {
	cl, err := a.Connect(c.Frame, c.UpgradeSubject)
	return identity(cl), brokerError(err)
}

func (a brokerAuth) AuthorizeSend(_ context.Context, id broker.Identity, f *stomp.Frame) (broker.Identity, error) {
	cl, err := a.AuthorizeFrame(claims(id), f)
	return identity(cl), brokerError(err)
}

func (a brokerAuth) AuthorizeSubscribe(_ context.Context, id broker.Identity, f *stomp.Frame) (broker.Identity, error) {
	cl, err := a.AuthorizeFrame(claims(id), f)
	return identity(cl), brokerError(err)
}

// identity is the session of claims c. Its SessionID names the login (the
// sid), or for a token issued elsewhere that names none, the token itself
// (its jti): logout denies and closes sessions by that id, and denied sids
// and jtis share one namespace.
func identity(c auth.Claims) broker.Identity {
	sid := c.SID
	if sid == "" {
		sid = c.ID
	}
	return broker.Identity{Subject: c.Subject, Roles: c.Roles, SessionID: sid, Expires: c.Expires}
}

// claims rebuilds the claims a session's identity came from; its SessionID
// is what a live session is checked against for revocation.
func claims(id broker.Identity) auth.Claims {
	return auth.Claims{Subject: id.Subject, SID: id.SessionID, Roles: id.Roles, Expires: id.Expires}
}

// stompCodes are the ERROR codes of the auth errors that have their own;
// every other auth error is unauthorized.
var stompCodes = []struct {
	err  error
	code string
}{
	{auth.ErrTokenExpired, broker.CodeTokenExpired},
	{auth.ErrSessionRevoked, broker.CodeSessionRevoked},
	{auth.ErrForbidden, broker.CodeForbidden},
	{auth.ErrOriginNotAllowed, broker.CodeForbidden},
}

// brokerError is err as the broker's typed error: an auth error keeps its
// message, HTTP status and name, and gets the ERROR code of its kind. Other
// errors pass unchanged.
func brokerError(err error) error {
	var e *auth.Error
	if !errors.As(err, &e) {
		return err
	}
	code := broker.CodeUnauthorized
	for _, c := range stompCodes {
		if errors.Is(e, c.err) {
			code = c.code
			break
		}
	}
	return &broker.Error{Code: code, Message: e.Error(), Status: e.Status(), Name: e.Name()}
}
