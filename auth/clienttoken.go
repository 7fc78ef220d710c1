package auth

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// GrantClientCredentials is the only grant_type POST /auth/token takes.
const GrantClientCredentials = "client_credentials"

// Errors of POST /auth/token, named as OAuth 2.0 (RFC 6749 §5.2) names
// them.
var (
	// ErrInvalidClient: an unknown client, or a wrong secret; the two are
	// answered alike.
	ErrInvalidClient = newError(http.StatusUnauthorized, "invalid_client", reasonBadCredentials, "unknown client or wrong client secret")
	// ErrUnsupportedGrantType: a grant_type other than client_credentials.
	ErrUnsupportedGrantType = newError(http.StatusBadRequest, "unsupported_grant_type", reasonMalformed, "grant_type must be client_credentials")
)

// tokenRequest is a client credentials request, from a form or JSON body
// and the Authorization header.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// basic is set when the credentials came in HTTP Basic.
	basic bool
}

// handleToken serves POST /auth/token: client credentials for an access
// token with the client's roles, and no refresh token. A refused Basic
// client is answered with WWW-Authenticate, as RFC 6749 asks.
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) error {
	req, err := readTokenRequest(w, r)
	if err == nil {
		var p tokenPair
		if p, err = s.clientToken(r.Context(), req, s.opts.ClientAddress(r)); err == nil {
			w.Header().Set("Pragma", "no-cache") // as RFC 6749 §5.1 asks, for old caches
			s.writeTokens(w, r, p, false)
			return nil
		}
	}
	if req.basic && errors.Is(err, ErrInvalidClient) {
		w.Header().Set("WWW-Authenticate", `Basic realm="stompd", charset="UTF-8"`)
	}
	return err
}

// readTokenRequest reads the body, form or JSON, and the Basic credentials
// if any. A client authenticates one way only: Basic, or client_secret in
// the body.
func readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, error) {
	var req tokenRequest
	basicID, basicSecret, basic, err := basicCredentials(r)
	req.basic = basic
	if err != nil {
		return req, err
	}
	if err := readTokenBody(w, r, &req); err != nil {
		return req, err
	}
	if !basic {
		return req, nil
	}
	if req.ClientSecret != "" || req.ClientID != "" && req.ClientID != basicID {
		return req, ErrInvalidRequest.with(reasonMalformed, "the client authenticates one way only: HTTP Basic or client_id and client_secret in the body")
	}
	req.ClientID, req.ClientSecret = basicID, basicSecret
	return req, nil
}

// basicCredentials reads Authorization: Basic, whose id and secret are
// form-url-encoded (RFC 6749 §2.3.1). Another scheme is refused.
func basicCredentials(r *http.Request) (id, secret string, basic bool, err error) {
	if r.Header.Get("Authorization") == "" {
		return "", "", false, nil
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", true, ErrInvalidClient.with(reasonMalformed, "the Authorization header must be Basic with the client id and secret")
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return "", "", true, ErrInvalidClient.with(reasonMalformed, "the Basic client id and secret must be form-url-encoded")
	}
	return id, secret, true, nil
}

// readTokenBody reads the parameters of a form or a JSON body into req.
func readTokenBody(w http.ResponseWriter, r *http.Request, req *tokenRequest) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		return decodeJSON(w, r, req, false)
	case "application/x-www-form-urlencoded":
		return readTokenForm(w, r, req)
	}
	return ErrInvalidRequest.with(reasonMalformed, "the body must be application/x-www-form-urlencoded or application/json")
}

// readTokenForm reads a form body of at most 64 KiB. A parameter given
// twice is refused, as RFC 6749 §3.2 asks; unknown ones are ignored.
func readTokenForm(w http.ResponseWriter, r *http.Request, req *tokenRequest) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodySize)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return ErrRequestTooLarge
		}
		return ErrInvalidRequest.with(reasonMalformed, "malformed form body: "+err.Error())
	}
	for name, dst := range map[string]*string{"grant_type": &req.GrantType, "client_id": &req.ClientID, "client_secret": &req.ClientSecret} {
		v := r.PostForm[name]
		if len(v) > 1 {
			return ErrInvalidRequest.with(reasonMalformed, name+" is given more than once")
		}
		if len(v) == 1 {
			*dst = v[0]
		}
	}
	return nil
}

// clientToken checks a client credentials request and issues the client's
// access token. The attempt is noted by the login throttle, under the
// client and the address, before the secret is looked at; a client has no
// limit of its own (clientLimits).
func (s *Service) clientToken(ctx context.Context, req tokenRequest, addr string) (tokenPair, error) {
	if _, err := s.clientStore(); err != nil {
		return tokenPair{}, ErrLoginDisabled.with(reasonDisabled, err.Error())
	}
	if err := checkTokenRequest(req); err != nil {
		return tokenPair{}, err
	}
	a, err := s.reserveAttempt(ctx, ClientAccountKey(req.ClientID), addr, s.clientLimits())
	if err != nil {
		return tokenPair{}, err
	}
	c, ok, err := s.checkSecret(s.clients, req.ClientID, req.ClientSecret)
	switch {
	case err != nil:
		return tokenPair{}, joinErr(err, s.settle(a, Unchecked))
	case !ok:
		return tokenPair{}, joinErr(ErrInvalidClient, s.settle(a, Failed))
	}
	if err := s.settle(a, Passed); err != nil {
		return tokenPair{}, err
	}
	return s.issueClientToken(c)
}

// checkTokenRequest checks the parameters before anything is counted.
func checkTokenRequest(req tokenRequest) error {
	switch {
	case req.GrantType == "":
		return ErrInvalidRequest.with(reasonMissing, "grant_type is required: client_credentials")
	case req.GrantType != GrantClientCredentials:
		return ErrUnsupportedGrantType.with(reasonMalformed, "unsupported grant_type "+quote(req.GrantType)+": this server grants client_credentials only")
	case req.ClientID == "" || req.ClientSecret == "":
		return ErrInvalidRequest.with(reasonMissing, "client_id and client_secret are required (in the body, or as HTTP Basic)")
	case len(req.ClientID) > MaxClientIDLength || len(req.ClientSecret) > maxClientSecretSize:
		return ErrInvalidClient.with(reasonOversized, "client id or secret too long")
	}
	return nil
}

func quote(s string) string { return `"` + truncate(strings.ToValidUTF8(s, "?"), 40) + `"` }

// issueClientToken records, then signs, client c's access token. A client
// deleted since its secret was checked is refused here.
func (s *Service) issueClientToken(c Client) (tokenPair, error) {
	now := s.issueTime()
	until := now.Add(s.opts.AccessTTL + s.opts.Leeway)
	if err := s.clients.RecordClientToken(c.ID, c.LoginID, until); err != nil {
		if errors.Is(err, ErrClientNotFound) {
			return tokenPair{}, ErrInvalidClient
		}
		return tokenPair{}, storeError("recording client token", err)
	}
	access, claims, err := s.issueAccess(User{ID: c.Subject(), Roles: c.Roles}, c.LoginID, now)
	if err != nil {
		return tokenPair{}, storeError("signing client token", err)
	}
	return tokenPair{access: access, claims: claims}, nil
}

// clientLimits are the throttle's limits for clients: per (client,
// address) and per address, none per client. A client's secret has 256
// bits and cannot be guessed, so a limit per client would only let anyone
// who knows its id, which its tokens show, lock it out from everywhere.
func (s *Service) clientLimits() ThrottleLimits {
	l := s.throttleLimits
	l.Account = 0
	return l
}

// UnlockClient forgets the failed token requests of client id from every
// address, so that an address locked out by them may ask again at once. It
// returns how many failures within the throttle window it forgot, or
// ErrUnknownClient.
func (s *Service) UnlockClient(id string) (int, error) {
	store, err := s.clientStore()
	if err != nil {
		return 0, err
	}
	if _, err := store.ClientByID(id); err != nil {
		return 0, clientError("finding client", err)
	}
	n, err := s.throttle.Unlock(ClientAccountKey(id), s.clientLimits(), s.now())
	if err != nil {
		return 0, storeError("clearing login throttle", err)
	}
	s.opts.Logger.Info("client throttle cleared", "client", id, "failures", n)
	return n, nil
}
