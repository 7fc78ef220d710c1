package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth/edge"
	"github.com/stompd/stompd/metrics"
)

// clock is a settable time source, a copy of stomptest's Clock: auth's
// tests do not import stomptest, which would bring STOMP into auth.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memUsers is an in-memory Users.
type memUsers struct{ byEmail map[string]User }

func (m *memUsers) UserByEmail(email string) (User, error) {
	if u, ok := m.byEmail[strings.ToLower(email)]; ok {
		return u, nil
	}
	return User{}, ErrUserNotFound
}

func (m *memUsers) UserByID(id string) (User, error) {
	for _, u := range m.byEmail {
		if u.ID == id {
			return u, nil
		}
	}
	return User{}, ErrUserNotFound
}

// memRefresh is an in-memory RefreshStore and Revoker with the rotation
// semantics of the real store. failNext makes the next write fail, having
// changed nothing, as a transaction that does not commit; full makes every
// write fail so, with that error, while it is set.
type memRefresh struct {
	mu       sync.Mutex
	now      func() time.Time
	tokens   map[[32]byte]*memToken
	revoked  map[string]bool
	seq      int
	failNext bool
	full     error
}

// errWriteFailed is the failure failNext injects.
var errWriteFailed = errors.New("memRefresh: write failed")

type memToken struct {
	RefreshToken
	rotated bool
}

func newMemRefresh(now func() time.Time) *memRefresh {
	return &memRefresh{now: now, tokens: make(map[[32]byte]*memToken), revoked: make(map[string]bool)}
}

func (m *memRefresh) CreateRefresh(hash [32]byte, userID string, expires, _ time.Time) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return RefreshToken{}, err
	}
	m.seq++
	return m.put(hash, fmt.Sprintf("fam-%d", m.seq), userID, expires), nil
}

func (m *memRefresh) put(hash [32]byte, family, userID string, expires time.Time) RefreshToken {
	rt := RefreshToken{Hash: hash, Family: family, UserID: userID, Issued: m.now(), Expires: expires}
	m.tokens[hash] = &memToken{RefreshToken: rt}
	return rt
}

func (m *memRefresh) RotateRefresh(old, next [32]byte, expires, _ time.Time) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return RefreshToken{}, err
	}
	t, ok := m.tokens[old]
	switch {
	case !ok:
		return RefreshToken{}, ErrRefreshNotFound
	case m.revoked[t.Family]:
		return RefreshToken{}, ErrRefreshRevoked
	case t.rotated:
		m.revoked[t.Family] = true
		return RefreshToken{}, ErrRefreshReused
	case !m.now().Before(t.Expires):
		return RefreshToken{}, ErrRefreshExpired
	}
	t.rotated = true
	return m.put(next, t.Family, t.UserID, expires), nil
}

// failure returns the error a write is set to fail with: full's, or
// errWriteFailed once after failNext was set.
func (m *memRefresh) failure() error {
	if m.full != nil {
		return m.full
	}
	if m.failNext {
		m.failNext = false
		return errWriteFailed
	}
	return nil
}

func (m *memRefresh) LookupRefresh(hash [32]byte) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tokens[hash]; ok {
		return t.RefreshToken, nil
	}
	return RefreshToken{}, ErrRefreshNotFound
}

func (m *memRefresh) RevokeFamily(family string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return err
	}
	m.revoked[family] = true
	return nil
}

// memDenials is an in-memory DenialStore.
type memDenials struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (d *memDenials) Deny(id string, until time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[id] = until
	return nil
}

func (d *memDenials) Denied() (map[string]time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]time.Time, len(d.m))
	for k, v := range d.m {
		out[k] = v
	}
	return out, nil
}

// memKeys is an in-memory KeyStore.
type memKeys struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKeys) LoadOrStoreKey(name string, fresh []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.m[name]; ok {
		return b, nil
	}
	k.m[name] = append([]byte(nil), fresh...)
	return k.m[name], nil
}

func (k *memKeys) SwapKey(name string, old, next []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !bytes.Equal(k.m[name], old) {
		return false, nil
	}
	k.m[name] = append([]byte(nil), next...)
	return true, nil
}

// memStore is an in-memory Store.
type memStore struct {
	*memUsers
	*memRefresh
	*memDenials
	*memKeys
}

// newMemStore is a Store of the test users, empty otherwise.
func newMemStore(t testing.TB, now func() time.Time) memStore {
	return memStore{testUsers(t), newMemRefresh(now), &memDenials{m: map[string]time.Time{}}, &memKeys{m: map[string][]byte{}}}
}

const password = "correct horse battery staple"

func testUsers(t testing.TB) *memUsers {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	m := &memUsers{byEmail: make(map[string]User)}
	for _, u := range []User{
		{ID: "u-alice", Email: "alice@example.com", Roles: []string{"user"}},
		{ID: "u-bob", Email: "bob@example.com", Roles: []string{"user"}},
		{ID: "u-root", Email: "root@example.com", Roles: []string{"admin"}},
	} {
		u.PasswordHash = hash
		m.byEmail[u.Email] = u
	}
	return m
}

// fixture is a Service with in-memory stores behind a real HTTP server on
// 127.0.0.1.
type fixture struct {
	svc     *Service
	srv     *httptest.Server
	clock   *clock
	refresh *memRefresh
	denials *memDenials
	keys    *Keys
	ks      *memKeys // where keys keeps its ring
	priv    ed25519.PrivateKey
	reg     *prometheus.Registry

	mu      sync.Mutex
	logouts []string
}

// newFixture starts a signing Service; edit may change its Options.
func newFixture(t testing.TB, edit func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{clock: newClock(), denials: &memDenials{m: map[string]time.Time{}}, reg: prometheus.NewRegistry()}
	ks := &memKeys{m: map[string][]byte{}}
	keys, err := LoadEd25519Keys(ks)
	if err != nil {
		t.Fatal(err)
	}
	fx.keys, fx.ks = keys, ks
	fx.priv = ed25519.NewKeyFromSeed(ks.m[Ed25519KeyName])
	fx.refresh = newMemRefresh(fx.clock.Now)
	origins, err := edge.ParseOrigins([]string{"https://app.example.com:3000"})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Keys: keys, Store: memStore{testUsers(t), fx.refresh, fx.denials, ks},
		Origins: origins, BcryptCost: bcrypt.MinCost, Now: fx.clock.Now, Metrics: metrics.New(fx.reg),
		OnLogout: func(sid string) {
			fx.mu.Lock()
			fx.logouts = append(fx.logouts, sid)
			fx.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&opts)
	}
	fx.svc, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = httptest.NewServer(fx.svc.Handler())
	t.Cleanup(fx.srv.Close)
	return fx
}

func (fx *fixture) loggedOut() []string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return append([]string(nil), fx.logouts...)
}

// do sends a request to the fixture's server.
func (fx *fixture) do(t testing.TB, method, path, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, fx.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decode reads a JSON response body into v.
func decode(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: body %q: %v", resp.Request.URL.Path, b, err)
	}
}

func (fx *fixture) login(t testing.TB, email string) tokenResponse {
	t.Helper()
	resp := fx.do(t, "POST", "/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: status %d", email, resp.StatusCode)
	}
	var tr tokenResponse
	decode(t, resp, &tr)
	return tr
}

func (fx *fixture) ticket(t testing.TB, access string) string {
	t.Helper()
	resp := fx.do(t, "POST", "/auth/ticket", "", "Authorization", "Bearer "+access)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ticket: status %d", resp.StatusCode)
	}
	var tr ticketResponse
	decode(t, resp, &tr)
	return tr.Ticket
}

// upgradeRequest is a WebSocket upgrade request as the broker would see it.
func upgradeRequest(query string, header ...string) *http.Request {
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/ws"+query, nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// claims returns valid access claims for subject as the fixture would issue.
func (fx *fixture) claims(subject string) jwt.MapClaims {
	now := fx.clock.Now()
	return jwt.MapClaims{
		"iss": "stompd", "aud": []string{"stompd"}, "sub": subject, "sid": "fam-x", "jti": randomToken(8),
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "roles": []string{"user"}, "token_use": "access",
	}
}

// sign signs claims with the fixture's own key and kid, then applies header.
func (fx *fixture) sign(t testing.TB, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	return signWith(t, jwt.SigningMethodEdDSA, fx.priv, c, map[string]any{"kid": fx.keys.signing(fx.clock.Now()).signKID}, header)
}

func signWith(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims, headers ...map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for _, h := range headers {
		for k, v := range h {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bearerHeader is the credential of an Authorization: Bearer <tok> header.
func bearerHeader(tok string) Credential {
	return Credential{Value: "Bearer " + tok, Authorization: true}
}

// sendTo is a SEND's request to dest, with its credential if any.
func sendTo(dest string, cred ...Credential) Request {
	r := Request{Right: WriteRight, Destination: dest}
	if len(cred) > 0 {
		r.Credential = cred[0]
	}
	return r
}

// subscribeTo is a SUBSCRIBE's request to its own (not another user's)
// destination dest.
func subscribeTo(dest string) Request {
	return Request{Right: ReadRight, Destination: dest}
}

// failures returns stompd_auth_failures_total{stage,reason}.
func (fx *fixture) failures(stage, reason string) float64 {
	return counterValue(fx.svc.opts.Metrics.AuthFailures.WithLabelValues(stage, reason))
}

// successes returns stompd_auth_successes_total{stage}.
func (fx *fixture) successes(stage string) float64 {
	return counterValue(fx.svc.opts.Metrics.AuthSuccesses.WithLabelValues(stage))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
