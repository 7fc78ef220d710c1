package main

import (
	"context"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/stomp"
)

// brokerAuth puts the auth service behind the broker's hooks: it turns
// token claims into session identities and back.
type brokerAuth struct {
	*auth.Service
}

func (a brokerAuth) AuthenticateConnect(_ context.Context, c broker.ConnectInfo) (broker.Identity, error) {
	cl, err := a.Connect(c.Frame, c.UpgradeSubject)
	return identity(cl), err
}

func (a brokerAuth) AuthorizeSend(_ context.Context, id broker.Identity, f *stomp.Frame) (broker.Identity, error) {
	cl, err := a.AuthorizeFrame(claims(id), f)
	return identity(cl), err
}

func (a brokerAuth) AuthorizeSubscribe(_ context.Context, id broker.Identity, f *stomp.Frame) (broker.Identity, error) {
	cl, err := a.AuthorizeFrame(claims(id), f)
	return identity(cl), err
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
