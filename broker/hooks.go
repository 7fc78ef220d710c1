package broker

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stompd/stompd/stomp"
)

// Identity is who a session acts for, established at CONNECT.
type Identity struct {
	Subject   string   // user id; /user/ destinations use it
	Roles     []string // roles granted by the token
	SessionID string   // the login it belongs to (refresh family id); may be empty
	// Expires ends the session (ERROR code token-expired, message "token
	// expired"); zero means never.
	Expires time.Time
}

// ConnectInfo is what a ConnectAuthenticator sees of a CONNECT.
type ConnectInfo struct {
	Frame          *stomp.Frame // valid only during the call
	Transport      string       // "tcp" or "websocket"
	RemoteAddr     string
	UpgradeSubject string // what the UpgradeAuthenticator returned; "" over TCP
}

// UpgradeAuthenticator checks a WebSocket upgrade request before it is
// upgraded. A refusal is answered with the Status (401 by default), Name
// ("unauthorized" by default) and Message of the *Error it returns.
type UpgradeAuthenticator interface {
	AuthenticateUpgrade(r *http.Request) (subject string, err error)
}

// ConnectAuthenticator establishes the identity of a CONNECT (or STOMP)
// frame. The Code of the *Error it returns sets the ERROR code header
// ("unauthorized" by default).
type ConnectAuthenticator interface {
	AuthenticateConnect(ctx context.Context, c ConnectInfo) (Identity, error)
}

// SendAuthorizer sees every SEND, and every other frame of a session but
// SUBSCRIBE that carries an Authorization header (ACK, NACK, BEGIN, COMMIT,
// ABORT, UNSUBSCRIBE, DISCONNECT), which needs no right beyond a valid
// token. When the frame carries its own Authorization header it verifies it
// and returns the refreshed identity, which the session adopts (moving its
// deadline); otherwise it returns id unchanged, or an error (the Code of an
// *Error, "forbidden" by default). The frame is valid only
// during the call.
type SendAuthorizer interface {
	AuthorizeSend(ctx context.Context, id Identity, f *stomp.Frame) (Identity, error)
}

// SubscribeAuthorizer is SendAuthorizer for SUBSCRIBE.
type SubscribeAuthorizer interface {
	AuthorizeSubscribe(ctx context.Context, id Identity, f *stomp.Frame) (Identity, error)
}

// AllowAll implements every hook and allows everything. It is meant for
// tests and embedding only: it authenticates nobody.
type AllowAll struct{}

// AuthenticateUpgrade allows every upgrade, with no subject.
func (AllowAll) AuthenticateUpgrade(*http.Request) (string, error) { return "", nil }

// AuthenticateConnect returns the login header as the subject, or
// "anonymous" when there is none; the identity never expires.
func (AllowAll) AuthenticateConnect(_ context.Context, c ConnectInfo) (Identity, error) {
	sub := c.Frame.Value("login")
	if sub == "" {
		sub = "anonymous"
	}
	return Identity{Subject: sub}, nil
}

// AuthorizeSend returns id unchanged.
func (AllowAll) AuthorizeSend(_ context.Context, id Identity, _ *stomp.Frame) (Identity, error) {
	return id, nil
}

// AuthorizeSubscribe returns id unchanged.
func (AllowAll) AuthorizeSubscribe(_ context.Context, id Identity, _ *stomp.Frame) (Identity, error) {
	return id, nil
}

// hooks is the set of hooks a Broker calls, nil ones replaced by AllowAll.
type hooks struct {
	upgrade   UpgradeAuthenticator
	connect   ConnectAuthenticator
	send      SendAuthorizer
	subscribe SubscribeAuthorizer
}

func newHooks(o *Options) hooks {
	h := hooks{upgrade: o.Upgrade, connect: o.Connect, send: o.Send, subscribe: o.Subscribe}
	if h.upgrade == nil {
		h.upgrade = AllowAll{}
	}
	if h.connect == nil {
		h.connect = AllowAll{}
	}
	if h.send == nil {
		h.send = AllowAll{}
	}
	if h.subscribe == nil {
		h.subscribe = AllowAll{}
	}
	return h
}

// hookFailure turns a hook's error into the ERROR frame it causes: the
// code of an *Error when it has one, def otherwise.
func hookFailure(err error, def string) *frameError {
	var e *Error
	if !errors.As(err, &e) {
		return &frameError{code: def, message: err.Error()}
	}
	if e.Code != "" {
		def = e.Code
	}
	return &frameError{code: def, message: e.Message}
}
