package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
)

const password = "correct horse battery"

// quiet is the tests' logger.
var quiet = slog.New(slog.DiscardHandler)

// node is one stompd node's auth: its own Redis client, Store and
// Service, its HTTP API on a real socket, and the sids its OnLogout saw.
type node struct {
	store   *Store
	svc     *auth.Service
	http    *httptest.Server
	metrics *metrics.Set

	mu      sync.Mutex
	logouts map[string]time.Time
}

// startNode starts a node on the Redis at url, watching denials until the
// test ends.
func startNode(t testing.TB, url string, edit func(*auth.Options)) *node {
	n := newNode(t, url, edit)
	n.watch(t)
	return n
}

// newNode starts a node on the Redis at url that does not watch denials.
func newNode(t testing.TB, url string, edit func(*auth.Options)) *node {
	t.Helper()
	n := &node{store: New(redistest.Client(t, url), Options{Logger: quiet}), logouts: map[string]time.Time{}}
	keys, err := auth.LoadEd25519Keys(n.store)
	if err != nil {
		t.Fatal(err)
	}
	n.metrics = metrics.New(prometheus.NewRegistry())
	o := auth.Options{Keys: keys, Store: n.store, BcryptCost: bcrypt.MinCost, Metrics: n.metrics, OnLogout: n.onLogout, Logger: quiet}
	if edit != nil {
		edit(&o)
	}
	if n.svc, err = auth.New(o); err != nil {
		t.Fatal(err)
	}
	n.http = httptest.NewServer(n.svc.Handler())
	t.Cleanup(n.http.Close)
	return n
}

// watch runs the node's denial watch until the test ends.
func (n *node) watch(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.store.WatchDenials(ctx, n.svc.TakeDenial); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (n *node) onLogout(sid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.logouts[sid]; !ok {
		n.logouts[sid] = time.Now()
	}
}

// loggedOut reports whether OnLogout was called with sid.
func (n *node) loggedOut(sid string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.logouts[sid]
	return ok
}

// mustAddUser adds a user with the test password.
func mustAddUser(t testing.TB, s *Store, email string) User {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.AddUser(auth.User{Email: email, Name: "Alice", Roles: []string{"chat"}, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Ticket       string `json:"ticket"`
	Error        string `json:"error"`
	Message      string `json:"message"`
}

// post sends a JSON body (and a bearer token, if any) to path and returns
// the status and the decoded answer.
func (n *node) post(t testing.TB, path, access string, body any) (int, tokens) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, n.http.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out tokens
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// login logs email in with the test password and fails the test otherwise.
func (n *node) login(t testing.TB, email string) tokens {
	t.Helper()
	status, tk := n.post(t, "/auth/login", "", map[string]string{"email": email, "password": password})
	if status != http.StatusOK {
		t.Fatalf("login %s: status %d %s", email, status, tk.Message)
	}
	return tk
}

// upgrade presents ticket at a WebSocket upgrade and returns the error.
func (n *node) upgrade(ticket string) (string, error) {
	r := httptest.NewRequest(http.MethodGet, "/ws?ticket="+ticket, nil)
	return n.svc.AuthenticateUpgrade(r)
}

// failures returns stompd_auth_failures_total{stage, reason}.
func (n *node) failures(stage, reason string) float64 {
	var m dto.Metric
	n.metrics.AuthFailures.WithLabelValues(stage, reason).(prometheus.Metric).Write(&m)
	return m.GetCounter().GetValue()
}

// within waits up to d for cond, polling.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// oneSecond is the bound on a denial reaching every node.
const oneSecond = time.Second

// deniedHere reports whether this node refuses access token tok as revoked.
func (n *node) deniedHere(tok string) bool {
	_, err := n.svc.VerifyAccess(tok)
	return errors.Is(err, auth.ErrSessionRevoked)
}

// jwks returns the node's /.well-known/jwks.json.
func (n *node) jwks(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(n.http.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
