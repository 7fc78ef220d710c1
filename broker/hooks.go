package broker

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"
)

// Identity is who a session acts for, established at CONNECT.
type Identity struct {
	Subject   string   // user id; /user/ destinations use it
	Name      string   // display name, shown to presence subscribers; "" shows Subject
	Roles     []string // roles granted by the token
	SessionID string   // the login it belongs to (refresh family id); may be empty
	TokenID   string   // the id (jti) of the access token it holds; may be empty
	// Expires ends the session (ERROR code token-expired, message "token
	// expired"); zero means never.
	Expires time.Time
}

// UpgradeAuthenticator checks a WebSocket upgrade request before it is
// upgraded. A refusal is answered with the Status (401 by default), Name
// ("unauthorized" by default) and Message of the *Error it returns.
type UpgradeAuthenticator interface {
	AuthenticateUpgrade(r *http.Request) (subject string, err error)
}

// Authorizer decides on the requests of a session (see Request): its
// CONNECT, every SEND (but see AuthEpocher) and SUBSCRIBE, and every other
// frame that carries a credential. It returns the session's identity from
// then on: for CONNECT the session's, otherwise the one the session had
// or, when the frame carried a fresh token of the same subject, the one
// that token gives, which moves the session's deadline. A refusal ends the session with an
// ERROR frame: the Code and Message of the *Error it returns, or by default
// code unauthorized for CONNECT and forbidden otherwise.
type Authorizer interface {
	Authorize(ctx context.Context, r Request) (Identity, error)
}

// Refresher extends a session in band: a SEND to RefreshDestination hands
// it the session's identity and the frame's credential, and does nothing
// else. It returns the identity the session adopts, of the same subject,
// or an error as an Authorizer does (code forbidden by default).
type Refresher interface {
	Refresh(ctx context.Context, session Identity, c Credential) (Identity, error)
}

// anonymous stands in for the hooks of a broker with AllowAnonymous: it
// authenticates nobody and allows everything.
type anonymous struct{}

// AuthenticateUpgrade allows every upgrade, with no subject.
func (anonymous) AuthenticateUpgrade(*http.Request) (string, error) { return "", nil }

// Authorize accepts a CONNECT as the subject its login header names, or
// "anonymous" when there is none, never expiring, and returns the
// session's identity unchanged for every other request.
func (anonymous) Authorize(_ context.Context, r Request) (Identity, error) {
	if r.Action != ActionConnect {
		return r.Session, nil
	}
	sub := r.Login
	if sub == "" {
		sub = "anonymous"
	}
	return Identity{Subject: sub}, nil
}

// AuthEpoch returns 0: anonymous decides the same forever.
func (anonymous) AuthEpoch() uint64 { return 0 }

// Refresh returns the session's identity unchanged.
func (anonymous) Refresh(_ context.Context, session Identity, _ Credential) (Identity, error) {
	return session, nil
}

// noRefresh is the Refresher of a broker whose Options have an Authorizer
// and no Refresher: it refuses every in-band refresh.
type noRefresh struct{}

func (noRefresh) Refresh(context.Context, Identity, Credential) (Identity, error) {
	return Identity{}, &Error{Code: CodeForbidden, Message: "in-band refresh is not served here: reconnect with a fresh token"}
}

// ErrNoAuthorizer is returned by New for Options without an Authorizer,
// unless AllowAnonymous is set: a broker embedded without its hooks is
// closed, not open.
var ErrNoAuthorizer = errors.New("broker: Options.Authorizer is nil: set it, or set AllowAnonymous to let every client in as whoever its login header names")

// hooks is the set of hooks a Broker calls.
type hooks struct {
	upgrade    UpgradeAuthenticator
	authorizer Authorizer
	refresher  Refresher
	epocher    AuthEpocher // the authorizer's, if it is one
}

// newHooks returns the hooks of o, with the defaults Options documents.
func newHooks(o *Options) (hooks, error) {
	h := hooks{upgrade: o.Upgrade, authorizer: o.Authorizer, refresher: o.Refresher}
	if h.authorizer == nil {
		if !o.AllowAnonymous {
			return hooks{}, ErrNoAuthorizer
		}
		h.authorizer = anonymous{}
		h.refresher = cmp.Or[Refresher](h.refresher, anonymous{})
	}
	h.epocher, _ = h.authorizer.(AuthEpocher)
	h.upgrade = cmp.Or[UpgradeAuthenticator](h.upgrade, anonymous{})
	h.refresher = cmp.Or[Refresher](h.refresher, noRefresh{})
	return h, nil
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
