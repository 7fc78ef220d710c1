package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// authClient gets tokens and tickets from stompd's HTTP API, at one of
// several addresses (the nodes of a cluster): the first, until it does
// not answer or answers 5xx, then the next, and so on round.
type authClient struct {
	bases     []string // e.g. http://127.0.0.1:8080
	cur       atomic.Uint32
	failovers atomic.Uint64 // requests moved on to the next address
	hc        *http.Client

	mu      sync.Mutex
	token   string // the access token, once logged in
	refresh string // the refresh token that renews it
}

// tokens is the answer of /auth/login and /auth/refresh.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// newAuthClient asks the addresses of bases, in order. It keeps as many
// idle connections as connections are opened at once, so that a ticket
// per WebSocket does not cost a TCP connection (and a port in TIME_WAIT)
// each.
func newAuthClient(bases []string) *authClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = parallelConns
	a := &authClient{hc: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
	for _, b := range bases {
		a.bases = append(a.bases, strings.TrimRight(b, "/"))
	}
	return a
}

// base is the address in use.
func (a *authClient) base() string { return a.bases[a.cur.Load()] }

// login trades an email and password for an access token (POST /auth/login).
func (a *authClient) login(ctx context.Context, email, password string) error {
	in, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return a.renew(ctx, "/auth/login", in)
}

// renewToken trades the refresh token for a new access token and a new
// refresh token (POST /auth/refresh) and returns the access token.
func (a *authClient) renewToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	in, _ := json.Marshal(map[string]string{"refresh_token": a.refresh})
	a.mu.Unlock()
	if err := a.renew(ctx, "/auth/refresh", in); err != nil {
		return "", err
	}
	return a.access(), nil
}

// renew posts in to path and keeps the tokens of the answer.
func (a *authClient) renew(ctx context.Context, path string, in []byte) error {
	var out tokens
	if err := a.post(ctx, path, "", in, &out); err != nil {
		return err
	}
	if out.AccessToken == "" {
		return fmt.Errorf("POST %s%s: no access_token in the answer", a.base(), path)
	}
	a.mu.Lock()
	a.token, a.refresh = out.AccessToken, out.RefreshToken
	a.mu.Unlock()
	return nil
}

// access returns the current access token.
func (a *authClient) access() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// tokenExpiry reads the exp claim of a JWT, without checking it: when
// the server will stop accepting the token.
func tokenExpiry(jwt string) (time.Time, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("the access token's payload: %w", err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == 0 {
		return time.Time{}, errors.New("the access token has no exp claim")
	}
	return time.Unix(claims.Exp, 0), nil
}

// ticketURL returns wsURL with a fresh single-use ticket (POST /auth/ticket).
func (a *authClient) ticketURL(ctx context.Context, wsURL string) (string, error) {
	var out struct {
		Ticket string `json:"ticket"`
	}
	if err := a.post(ctx, "/auth/ticket", a.access(), nil, &out); err != nil {
		return "", err
	}
	if out.Ticket == "" {
		return "", fmt.Errorf("POST %s/auth/ticket: no ticket in the answer", a.base())
	}
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("ticket", out.Ticket)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// post sends body (JSON, or nothing) to path and decodes a 200 answer
// into out. An address that does not answer, or answers 5xx, passes the
// request on to the next one, each asked once at most (a renewal that a
// node took before it died is then refused there as a reuse). Errors
// quote the server's error message, never the request.
func (a *authClient) post(ctx context.Context, path, bearer string, body []byte, out any) error {
	for tried := 1; ; tried++ {
		i := a.cur.Load()
		next, err := a.postTo(ctx, a.bases[i], path, bearer, body, out)
		if !next || tried == len(a.bases) || ctx.Err() != nil {
			return err
		}
		if a.cur.CompareAndSwap(i, (i+1)%uint32(len(a.bases))) {
			a.failovers.Add(1)
		}
	}
}

// postTo is post at base; next says whether another address may do
// better: base did not answer, or answered 5xx.
func (a *authClient) postTo(ctx context.Context, base, path, bearer string, body []byte, out any) (next bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return true, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode >= 500, fmt.Errorf("POST %s%s: %s: %s", base, path, resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("POST %s%s: %w", base, path, err)
	}
	return false, nil
}
