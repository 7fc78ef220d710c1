package broker

import (
	"unsafe"

	"github.com/stompd/stompd/stomp"
)

// Action is what a client frame asks of the broker.
type Action uint8

// The actions of the frames a client sends after CONNECT are named after
// them; ActionConnect stands for CONNECT and STOMP.
const (
	ActionConnect Action = iota + 1
	ActionSend
	ActionSubscribe
	ActionUnsubscribe
	ActionAck
	ActionNack
	ActionBegin
	ActionCommit
	ActionAbort
	ActionDisconnect
)

// actions maps the client frames to their Action.
var actions = [stomp.ERROR + 1]Action{
	stomp.CONNECT: ActionConnect, stomp.STOMP: ActionConnect,
	stomp.SEND: ActionSend, stomp.SUBSCRIBE: ActionSubscribe, stomp.UNSUBSCRIBE: ActionUnsubscribe,
	stomp.ACK: ActionAck, stomp.NACK: ActionNack,
	stomp.BEGIN: ActionBegin, stomp.COMMIT: ActionCommit, stomp.ABORT: ActionAbort,
	stomp.DISCONNECT: ActionDisconnect,
}

var actionNames = [...]string{
	ActionConnect: "connect", ActionSend: "send", ActionSubscribe: "subscribe", ActionUnsubscribe: "unsubscribe",
	ActionAck: "ack", ActionNack: "nack", ActionBegin: "begin", ActionCommit: "commit", ActionAbort: "abort",
	ActionDisconnect: "disconnect",
}

func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return "unknown"
}

// Owner says whose destination a request names.
type Owner uint8

const (
	// OwnerNone: a destination of nobody in particular (/topic/, /queue/),
	// or none.
	OwnerNone Owner = iota
	// OwnerSelf: the session's own /user/<subject>/ destination.
	OwnerSelf
	// OwnerOther: another user's /user/<user>/ destination.
	OwnerOther
)

// Credential is the access token a frame carries, as its client wrote it:
// with Authorization set, the value of its Authorization header ("Bearer
// <token>"; the header is also accepted in lower case); without, a CONNECT's
// passcode, which clients that know only login and passcode fill with the
// token. The zero value is no credential.
type Credential struct {
	Value         string
	Authorization bool
}

// Request is a client frame as the Authorizer sees it: resolved by the
// broker, so that it needs no STOMP. Its strings may share the frame's
// bytes: they are valid only during the call.
type Request struct {
	Action Action
	// Session is the session's identity; zero for ActionConnect.
	Session Identity
	// Destination is where a SEND or SUBSCRIBE leads, after the /user/
	// mapping: a SUBSCRIBE to /user/queue/<name> is to the session's own
	// /user/<subject>/queue/<name>. Owner says whose it is. Empty for the
	// other actions.
	Destination string
	Owner       Owner
	// Credential is the token the frame carries, if any.
	Credential Credential
	// Login is a CONNECT's login header.
	Login string
	// Transport is "tcp" or "websocket"; RemoteAddr the client's address;
	// UpgradeSubject what the UpgradeAuthenticator returned ("" over TCP).
	Transport, RemoteAddr, UpgradeSubject string
}

// Header names of the credentials a frame may carry.
const (
	headerAuthorization      = "Authorization"
	headerAuthorizationLower = "authorization"
	headerLogin              = "login"
	headerPasscode           = "passcode"
)

// credential returns the credential f carries: its Authorization header
// or, on CONNECT and STOMP, its passcode. The value shares f's bytes.
func credential(f *stomp.Frame) Credential {
	if v, ok := f.Get(headerAuthorization); ok {
		return Credential{Value: view(v), Authorization: true}
	}
	if v, ok := f.Get(headerAuthorizationLower); ok {
		return Credential{Value: view(v), Authorization: true}
	}
	if f.Command == stomp.CONNECT || f.Command == stomp.STOMP {
		v, _ := f.Get(headerPasscode)
		return Credential{Value: view(v)}
	}
	return Credential{}
}

// view returns b's bytes as a string, without a copy; b must not change
// while the string is in use.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// request returns the Request of frame f of c, without a destination.
func (c *conn) request(f *stomp.Frame) Request {
	return Request{
		Action: actions[f.Command], Session: c.identity(), Credential: credential(f),
		Transport: c.kind.String(), RemoteAddr: c.remote, UpgradeSubject: c.upgradeSubject,
	}
}

// authorize asks the Authorizer about r and adopts the identity it returns.
func (c *conn) authorize(r Request) error {
	id, err := c.b.h.authorizer.Authorize(c.ctx, r)
	if err != nil {
		return hookFailure(err, CodeForbidden)
	}
	return c.adopt(id)
}
