package stomp

import "errors"

// Sentinel errors for each way a peer's bytes can be wrong. The Decoder
// returns them wrapped in a *ProtocolError; match them with errors.Is.
var (
	// Limits, code "limit-exceeded".
	ErrFrameTooLarge     = errors.New("frame too large")
	ErrBodyTooLarge      = errors.New("body too large")
	ErrTooManyHeaders    = errors.New("too many headers")
	ErrHeaderLineTooLong = errors.New("header line too long")

	// Malformed input, code "protocol-error".
	ErrUnknownCommand   = errors.New("unknown command")
	ErrMalformedHeader  = errors.New("malformed header")
	ErrInvalidEscape    = errors.New("invalid escape sequence")
	ErrBadContentLength = errors.New("invalid content-length")
	ErrMissingNull      = errors.New("frame body not terminated by NUL")
)

// Error codes carried in the code header of ERROR frames.
const (
	CodeProtocolError = "protocol-error"
	CodeLimitExceeded = "limit-exceeded"
)

// ProtocolError describes why a peer's input was rejected: Err is one of the
// sentinel errors above and Detail says precisely what was wrong, in words
// fit for the message header of an ERROR frame.
type ProtocolError struct {
	Err    error
	Detail string
}

func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Code returns the ERROR frame code for e: "limit-exceeded" for a limit,
// "protocol-error" otherwise.
func (e *ProtocolError) Code() string {
	switch e.Err {
	case ErrFrameTooLarge, ErrBodyTooLarge, ErrTooManyHeaders, ErrHeaderLineTooLong:
		return CodeLimitExceeded
	}
	return CodeProtocolError
}
