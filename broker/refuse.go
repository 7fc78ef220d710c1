package broker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/websocket"
)

// refusal is the answer to an HTTP request the broker will not upgrade or
// serve: a status and a JSON body {"error": code, "message": message},
// code being machine-readable and message for people.
type refusal struct {
	status  int
	code    string
	message string
}

// Refusals of the connection limits and of shutdown.
var (
	refusedShutdown = &refusal{http.StatusServiceUnavailable, "shutting_down", "the server is shutting down"}
	refusedTotal    = &refusal{http.StatusServiceUnavailable, "too_many_connections", "the server has all the connections it takes; try again later"}
	refusedPerAddr  = &refusal{http.StatusTooManyRequests, "too_many_connections", "too many connections from your address"}
)

// write answers w with e; nothing must have been written to w yet.
func (e *refusal) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{e.code, e.message})
}

// refuse writes a refusal.
func refuse(w http.ResponseWriter, status int, code, message string) {
	(&refusal{status, code, message}).write(w)
}

// checkHandshake refuses r unless it is a WebSocket handshake that gorilla
// will upgrade: a GET with Connection: Upgrade and Upgrade: websocket,
// Sec-WebSocket-Version 13 and a Sec-WebSocket-Key of 16 bytes in base64
// (RFC 6455 section 4.1), without a body. It makes every check
// Upgrader.Upgrade makes before it answers, so that a ticket is spent only
// on a request that is then upgraded; only a failure to hijack the
// connection, or a client that writes before the handshake is answered,
// still fail after it. A declared body (Content-Length or any
// Transfer-Encoding) is refused here: it would sit in the connection's
// read buffer at the hijack, where gorilla takes it for such early writing.
func checkHandshake(r *http.Request) *refusal {
	switch {
	case !websocket.IsWebSocketUpgrade(r):
		return &refusal{http.StatusBadRequest, "invalid_request", `not a WebSocket handshake: want "Connection: Upgrade" and "Upgrade: websocket"`}
	case r.Method != http.MethodGet:
		return &refusal{http.StatusMethodNotAllowed, "method_not_allowed", "a WebSocket handshake is a GET"}
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		return &refusal{http.StatusBadRequest, "invalid_request", "a WebSocket handshake has no body: send it without Content-Length or Transfer-Encoding"}
	case !versionThirteen(r.Header.Values("Sec-Websocket-Version")):
		return &refusal{http.StatusBadRequest, "invalid_request", "unsupported WebSocket version: want Sec-WebSocket-Version: 13"}
	case !validKey(r.Header.Get("Sec-Websocket-Key")):
		return &refusal{http.StatusBadRequest, "invalid_request", "Sec-WebSocket-Key must be 16 bytes in base64"}
	}
	return nil
}

func versionThirteen(v []string) bool { return len(v) == 1 && v[0] == "13" }

func validKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// upgradeRefusal is the answer to an UpgradeAuthenticator's error: the
// Status (401 by default), Name ("unauthorized" by default) and Message of
// an *Error.
func upgradeRefusal(err error) *refusal {
	r := &refusal{http.StatusUnauthorized, "unauthorized", err.Error()}
	var e *Error
	if !errors.As(err, &e) {
		return r
	}
	r.message = e.Message
	if e.Status >= 400 {
		r.status = e.Status
	}
	if e.Name != "" {
		r.code = e.Name
	}
	return r
}

// gorillaRefusal answers what Upgrader.Upgrade refuses itself, after
// checkHandshake let the request through.
func gorillaRefusal(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := "invalid_request"
	if status >= http.StatusInternalServerError {
		code = "server_error"
	}
	refuse(w, status, code, reason.Error())
}
