package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/stompd/stompd/auth"
)

// Error is a refusal: its HTTP status, and the body's code and message;
// RetryAfter, when above 0, is sent as the Retry-After header (the store
// unavailable says when to try again).
type Error struct {
	Status     int           `json:"-"`
	Code       string        `json:"error"`
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return e.Message }

func errUnauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

func errNotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: msg}
}

func errInvalid(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

// asError returns err as the Error that answers it: an *Error as it is,
// an *auth.Error with its status and code (the store unavailable is 503),
// anything else as 500 server_error, whose details stay in the log.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return &Error{Status: ae.Status(), Code: ae.Name(), Message: ae.Error(), RetryAfter: ae.RetryAfter()}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "server_error", Message: "internal error"}
}

// maxBody bounds a request's body.
const maxBody = 64 << 10

// decode reads r's JSON body into v: one object, at most maxBody bytes,
// with no unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Message: "request body too large"}
	case err != nil:
		return errInvalid("malformed JSON body: " + err.Error())
	}
	return nil
}

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, v)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
