package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authClient gets tokens and tickets from stompd's HTTP API.
type authClient struct {
	base  string // e.g. http://127.0.0.1:8080
	hc    *http.Client
	token string // the access token, once logged in
}

// newAuthClient keeps as many idle connections as connections are opened
// at once, so that a ticket per WebSocket does not cost a TCP connection
// (and a port in TIME_WAIT) each.
func newAuthClient(base string) *authClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = parallelConns
	return &authClient{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
}

// login trades an email and password for an access token (POST /auth/login).
func (a *authClient) login(ctx context.Context, email, password string) error {
	in, _ := json.Marshal(map[string]string{"email": email, "password": password})
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := a.post(ctx, "/auth/login", "", in, &out); err != nil {
		return err
	}
	if out.AccessToken == "" {
		return fmt.Errorf("POST %s/auth/login: no access_token in the answer", a.base)
	}
	a.token = out.AccessToken
	return nil
}

// ticketURL returns wsURL with a fresh single-use ticket (POST /auth/ticket).
func (a *authClient) ticketURL(ctx context.Context, wsURL string) (string, error) {
	var out struct {
		Ticket string `json:"ticket"`
	}
	if err := a.post(ctx, "/auth/ticket", a.token, nil, &out); err != nil {
		return "", err
	}
	if out.Ticket == "" {
		return "", fmt.Errorf("POST %s/auth/ticket: no ticket in the answer", a.base)
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
// into out. Errors quote the server's error message, never the request.
func (a *authClient) post(ctx context.Context, path, bearer string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s%s: %s: %s", a.base, path, resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s%s: %w", a.base, path, err)
	}
	return nil
}
