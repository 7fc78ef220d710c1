package broker

import (
	"errors"
	"fmt"

	"github.com/stompd/stompd/stomp"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Codes of the ERROR frames the broker sends, in their code header. They
// are defined here and nowhere else: a hook that refuses returns an *Error
// carrying one of them.
const (
	CodeProtocolError  = stomp.CodeProtocolError
	CodeLimitExceeded  = stomp.CodeLimitExceeded
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeTokenExpired   = "token-expired"
	CodeSessionRevoked = "session-revoked"
	CodeSlowConsumer   = "slow-consumer"
	CodeServerShutdown = "server-shutdown"
	// CodeUnavailable: a message could not be stored (a shared queue's
	// backend is unreachable).
	CodeUnavailable = "unavailable"
)

// Error is a refusal that crosses the seam between the broker and its
// hooks, typed as gorilla/websocket types its CloseError. A hook's error
// that is, or wraps, an *Error sets the ERROR frame's code and message
// headers, or for a refused WebSocket upgrade the HTTP status and the JSON
// body's "error" and "message"; any other error keeps the defaults and its
// Error text as the message.
type Error struct {
	Code    string // ERROR code header, one of the Code constants; "": the default of the hook
	Message string // ERROR message header; the JSON body's "message"
	Status  int    // HTTP status of a refused upgrade; 0: 401
	Name    string // the JSON body's "error" of a refused upgrade; "": "unauthorized"
}

func (e *Error) Error() string { return e.Message }

// frameError is the cause of an ERROR frame: its code and message headers,
// and any extra headers (such as version when negotiation failed).
type frameError struct {
	code, message string
	extra         []stomp.Header
	// logged replaces message in logs when message quotes the peer's
	// bytes, which may hold a credential (a malformed Authorization line).
	logged string
}

// logText is what the connection's close line says of e.
func (e *frameError) logText() string {
	if e.logged != "" {
		return e.code + ": " + e.logged
	}
	return e.code + ": " + e.message
}

func (e *frameError) Error() string { return e.code + ": " + e.message }

func protocolErrorf(format string, args ...any) *frameError {
	return &frameError{code: CodeProtocolError, message: fmt.Sprintf(format, args...)}
}

func limitErrorf(format string, args ...any) *frameError {
	return &frameError{code: CodeLimitExceeded, message: fmt.Sprintf(format, args...)}
}

func forbiddenf(format string, args ...any) *frameError {
	return &frameError{code: CodeForbidden, message: fmt.Sprintf(format, args...)}
}

// asFrameError turns a decoder error into the ERROR frame it causes.
func asFrameError(err error) *frameError {
	var fe *frameError
	if errors.As(err, &fe) {
		return fe
	}
	var pe *stomp.ProtocolError
	if errors.As(err, &pe) {
		return &frameError{code: pe.Code(), message: pe.Error(), logged: pe.Err.Error()}
	}
	return &frameError{code: CodeProtocolError, message: err.Error()}
}
