package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/broker"
)

// brokerAuth puts the auth service behind the broker's hooks: it hands
// auth the broker's resolved requests, turns token claims into session
// identities and back, and auth's errors into the broker's.
type brokerAuth struct {
	svc *auth.Service
}

func (a brokerAuth) AuthenticateUpgrade(r *http.Request) (string, error) {
	sub, err := a.svc.AuthenticateUpgrade(r)
	return sub, brokerError(err)
}

func (a brokerAuth) Authorize(_ context.Context, r broker.Request) (broker.Identity, error) {
	cred := auth.Credential(r.Credential)
	if r.Action == broker.ActionConnect {
		c, err := a.svc.Connect(cred, r.UpgradeSubject)
		return identity(c), brokerError(err)
	}
	c, err := a.svc.Authorize(claims(r.Session), auth.Request{
		Right: right(r.Action), Destination: r.Destination, OtherUser: r.Owner == broker.OwnerOther, Credential: cred,
	})
	return identity(c), brokerError(err)
}

// AuthEpoch lets the broker reuse the SENDs auth allowed until a denial
// (see auth.Service.Epoch).
func (a brokerAuth) AuthEpoch() uint64 { return a.svc.Epoch() }

func (a brokerAuth) Refresh(_ context.Context, session broker.Identity, c broker.Credential) (broker.Identity, error) {
	cl, err := a.svc.Refresh(claims(session), auth.Credential(c))
	return identity(cl), brokerError(err)
}

// right is what action needs of its destination: a SEND writes, a
// SUBSCRIBE reads, the others need no right.
func right(action broker.Action) auth.Right {
	switch action {
	case broker.ActionSend:
		return auth.WriteRight
	case broker.ActionSubscribe:
		return auth.ReadRight
	}
	return auth.NoRight
}

// identity is the session of claims c. Its SessionID names the login (the
// sid), or for a token issued elsewhere that names none, the token itself
// (its jti); its TokenID names the token. Logout denies and closes
// sessions by either id (a service account's token ends alone, by its
// jti), and denied sids and jtis share one namespace.
func identity(c auth.Claims) broker.Identity {
	sid := c.SID
	if sid == "" {
		sid = c.ID
	}
	return broker.Identity{Subject: c.Subject, Name: c.Name, Roles: c.Roles, SessionID: sid, TokenID: c.ID, Expires: c.Expires}
}

// claims rebuilds the claims a session's identity came from; its SessionID
// and TokenID are what a live session is checked against for revocation.
func claims(id broker.Identity) auth.Claims {
	return auth.Claims{Subject: id.Subject, Name: id.Name, SID: id.SessionID, ID: id.TokenID, Roles: id.Roles, Expires: id.Expires}
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
