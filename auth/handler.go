package auth

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// RefreshCookie is the HttpOnly cookie that carries the refresh token when
// login asked for "use_cookie": true.
const RefreshCookie = "stompd_refresh"

// maxBodySize bounds a JSON request body.
const maxBodySize = 64 << 10

// ErrRequestTooLarge answers a body over 64 KiB.
var ErrRequestTooLarge = newError(http.StatusRequestEntityTooLarge, "request_too_large", reasonOversized, "request body too large")

// ErrRequestTimeout answers a body that did not arrive within the HTTP
// server's read timeout.
var ErrRequestTimeout = newError(http.StatusRequestTimeout, "request_timeout", reasonMalformed, "request body too slow: it did not arrive within the read timeout")

// Handler returns the HTTP API: POST /auth/login, /auth/refresh,
// /auth/logout, /auth/ticket, /auth/token and GET /.well-known/jwks.json, behind the
// CORS middleware of Options.Origins. Mount it at "/auth/" and
// "/.well-known/jwks.json".
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/login", s.endpoint(stageLogin, s.handleLogin))
	mux.Handle("/auth/refresh", s.endpoint(stageRefresh, s.handleRefresh))
	mux.Handle("/auth/logout", s.endpoint(stageLogout, s.handleLogout))
	mux.Handle("/auth/ticket", s.endpoint(stageTicket, s.handleTicket))
	mux.Handle("/auth/token", s.endpoint(stageToken, s.handleToken))
	mux.Handle("/.well-known/jwks.json", s.cors(http.HandlerFunc(s.handleJWKS), nil))
	mux.Handle("/", s.cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{status: http.StatusNotFound, name: "not_found", msg: "no such endpoint"})
	}), nil))
	return mux
}

// endpoint adapts a POST handler that returns an error, behind CORS: it
// refuses other methods, counts the outcome at st, refusals of the origin
// and the method included, and writes the error response.
func (s *Service) endpoint(st stage, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return s.cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := post(w, r, h)
		s.record(st, err)
		if err != nil {
			s.logError(r, err)
			writeError(w, err)
		}
	}), func(err error) { s.record(st, err) })
}

// post runs h for a POST and refuses any other method.
func post(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request) error) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		return ErrMethodNotAllowed
	}
	return h(w, r)
}

// logError logs errors that are not the peer's fault, but for a store
// that is unavailable: whoever watches the store reports an outage once
// (stompd logs when Redis stops answering, or the data dir's disk cannot
// be written, and when it recovers), not once per request. Tokens are
// never logged, nor is the query string.
func (s *Service) logError(r *http.Request, err error) {
	if e, ok := err.(*Error); ok && e.status < http.StatusInternalServerError || errors.Is(err, ErrUnavailable) {
		return
	}
	s.opts.Logger.Error("auth request failed", "path", r.URL.Path, "err", err)
}

type loginRequest struct {
	Email     string `json:"email"`
	Password  string `json:"password"`
	UseCookie bool   `json:"use_cookie"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	p, err := s.login(r.Context(), req.Email, req.Password, s.opts.ClientAddress(r))
	if err != nil {
		return err
	}
	s.writeTokens(w, r, p, req.UseCookie)
	return nil
}

func (s *Service) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	tok, fromCookie := refreshToken(r, req.RefreshToken)
	p, err := s.rotate(tok)
	if err != nil {
		if fromCookie {
			http.SetCookie(w, s.refreshCookie(r, "", -1))
		}
		return err
	}
	s.writeTokens(w, r, p, fromCookie)
	return nil
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) error {
	c, err := s.requestClaims(r)
	if err != nil {
		return err
	}
	var req refreshRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	tok, fromCookie := refreshToken(r, req.RefreshToken)
	if err := s.logout(c, tok); err != nil {
		return err
	}
	if fromCookie {
		http.SetCookie(w, s.refreshCookie(r, "", -1))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleTicket(w http.ResponseWriter, r *http.Request) error {
	c, err := s.requestClaims(r)
	if err != nil {
		return err
	}
	t, expiresIn, err := s.IssueTicket(c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ticketResponse{Ticket: t, ExpiresIn: expiresIn})
	return nil
}

func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, ErrMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.jwksMaxAge()/time.Second)))
	w.Write(s.keys.JWKS())
}

// jwksMaxAge is how long a verifier may cache the JWKS: short enough that
// one that fetched it just before a rotation, while a node had not read
// the ring yet (two reload periods), fetches it again before the new key
// signs. A verifier that refetches on an unknown kid needs no such bound.
func (s *Service) jwksMaxAge() time.Duration {
	return max(s.opts.KeyPublishDelay-2*DefaultKeyReload, 0)
}

// requestClaims verifies the request's Authorization: Bearer token.
func (s *Service) requestClaims(r *http.Request) (Claims, error) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return Claims{}, ErrMissingToken.with(reasonMissing, "missing Authorization: Bearer <access token>")
	}
	tok, err := bearer(v)
	if err != nil {
		return Claims{}, err
	}
	return s.VerifyAccess(tok)
}

// refreshToken returns the body's refresh token, or else the cookie's.
func refreshToken(r *http.Request, body string) (tok string, fromCookie bool) {
	if body != "" {
		return body, false
	}
	if c, err := r.Cookie(RefreshCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

func (s *Service) writeTokens(w http.ResponseWriter, r *http.Request, p tokenPair, cookie bool) {
	resp := tokenResponse{
		AccessToken: p.access,
		TokenType:   "Bearer",
		ExpiresIn:   int(p.claims.Expires.Sub(p.claims.IssuedAt) / time.Second),
	}
	if cookie {
		http.SetCookie(w, s.refreshCookie(r, p.refresh, int(s.opts.RefreshTTL/time.Second)))
	} else {
		resp.RefreshToken = p.refresh
	}
	writeJSON(w, http.StatusOK, resp)
}

// refreshCookie is the refresh cookie; maxAge -1 deletes it. It is Secure
// unless the request came over plain HTTP to a loopback host.
func (s *Service) refreshCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     RefreshCookie,
		Value:    value,
		Path:     "/auth",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil || !loopbackHost(r.Host),
		SameSite: http.SameSiteStrictMode,
	}
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decodeJSON reads one JSON object of at most 64 KiB into v. An empty body
// is accepted when optional is set.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodySize))
	err := dec.Decode(v)
	if err == io.EOF && optional {
		return nil
	}
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return ErrRequestTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrRequestTimeout
	case err != nil:
		return ErrInvalidRequest.with(reasonMalformed, "malformed JSON body: "+err.Error())
	}
	return nil
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError writes err as {"error","message"} with its status; errors
// that are not *Error are answered as a generic 500.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrInternal
	}
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retry+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, errorBody{Error: e.name, Message: e.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
