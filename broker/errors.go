package broker

import (
	"errors"
	"fmt"

	"github.com/stompd/stompd/stomp"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Codes of the ERROR frames the broker sends, in their code header.
const (
	CodeProtocolError  = stomp.CodeProtocolError
	CodeLimitExceeded  = stomp.CodeLimitExceeded
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeTokenExpired   = "token-expired"
	CodeSessionRevoked = "session-revoked"
	CodeSlowConsumer   = "slow-consumer"
	CodeServerShutdown = "server-shutdown"
)

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
