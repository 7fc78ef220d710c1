package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/stomp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is an in-process stompd broker on loopback, over TCP and
// WebSocket, with an optional fake of stompd's /auth endpoints.
type server struct {
	tcp, ws string
	http    string
}

func startServer(t *testing.T, o broker.Options, auth *fakeAuth) server {
	t.Helper()
	o.CheckOrigin = func(*http.Request) bool { return true }
	o.AllowAnonymous = auth == nil
	if auth != nil {
		o.Upgrade, o.Authorizer = auth, auth
	}
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", b)
	if auth != nil {
		mux.HandleFunc("POST /auth/login", auth.login)
		mux.HandleFunc("POST /auth/ticket", auth.ticket)
	}
	hs := &http.Server{Handler: mux}
	served := make(chan struct{}, 2)
	go func() { _ = b.Serve(tl); served <- struct{}{} }()
	go func() { _ = hs.Serve(hl); served <- struct{}{} }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		<-served
		<-served
	})
	return server{tcp: tl.Addr().String(), ws: "ws://" + hl.Addr().String() + "/ws", http: "http://" + hl.Addr().String()}
}

// runJSON runs stompbench with args plus -json -quiet and decodes its report.
func runJSON(t *testing.T, args ...string) (report, int, string) {
	t.Helper()
	var out, errs strings.Builder
	code := run(append(args, "-json", "-quiet"), &out, &errs)
	var r report
	if out.Len() > 0 {
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out.String())
		}
	}
	return r, code, errs.String()
}

func TestEndToEnd(t *testing.T) {
	srv := startServer(t, broker.Options{}, nil)
	const count = 300
	tests := []struct {
		name      string
		args      string
		published uint64
		delivered uint64
	}{
		{"p2p", "-scenario p2p", count, count},
		{"fanout", "-scenario fanout -subs 10", count, 10 * count},
		{"queue", "-scenario queue -pubs 2 -subs 3", 2 * count, 2 * count},
		{"mesh", "-scenario mesh -subs 3", 3 * count, 9 * count},
		{"paced with warm-up", "-scenario p2p -rate 5000 -warmup 20ms", 0, 0},
		{"small window", "-scenario fanout -subs 3 -window 4 -size 1000", count, 3 * count},
		{"conns", "-scenario conns -conns 50 -duration 50ms", 50, 50},
		// 2,000/s for 150 ms: messages 0 to 299 fall due before the end.
		{"paced for a time", "-scenario fanout -subs 2 -rate 2000 -warmup 50ms -duration 100ms", 300, 600},
		// The same node named twice: connections spread over both names.
		{"spread over nodes", "-scenario fanout -subs 5 @twice", count, 5 * count},
	}
	for _, transport := range []string{"tcp", "ws"} {
		target := []string{"-tcp", srv.tcp}
		if transport == "ws" {
			target = []string{"-ws", srv.ws}
		}
		twice := target[1] + "," + target[1]
		for _, tt := range tests {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				a := append(append([]string{}, target...), args(tt.args)...)
				if i := slices.Index(a, "@twice"); i >= 0 {
					a = append(a[:i], a[i+1:]...)
					a[1] = twice
				}
				if !strings.Contains(tt.args, "-duration") {
					a = append(a, "-count", strconv.Itoa(count))
				}
				r, code, stderr := runJSON(t, a...)
				if code != exitOK || !r.Valid {
					t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
				}
				published, delivered := tt.published, tt.delivered
				if tt.published == 0 { // a timed warm-up adds what it sent to -count
					published, delivered = r.Published, r.Published
					if r.Published < count {
						t.Errorf("published %d, want at least %d", r.Published, count)
					}
				}
				if r.Published != published || r.Delivered != delivered || r.Expected != delivered {
					t.Errorf("published %d delivered %d expected %d; want %d, %d, %d",
						r.Published, r.Delivered, r.Expected, published, delivered, delivered)
				}
				if r.Lost+r.Duplicated+r.Corrupted+r.Misrouted != 0 || r.Error != "" {
					t.Errorf("checks: %+v", r)
				}
				if r.Latency.Samples == 0 || r.Latency.P50 > r.Latency.Max || r.Latency.P99 > r.Latency.Max {
					t.Errorf("latency %+v", r.Latency)
				}
			})
		}
	}
}

func TestEndToEndTable(t *testing.T) {
	srv := startServer(t, broker.Options{}, nil)
	var out, errs strings.Builder
	if code := run([]string{"-tcp", srv.tcp, "-scenario", "fanout", "-subs", "2", "-count", "50", "-quiet"}, &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errs.String(), out.String())
	}
	for _, want := range []string{"fanout against tcp://" + srv.tcp, "published", "100 msgs", "p99.9", "lost 0", "result       OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// A broker that refuses the run's frames makes the run fail: reported
// INVALID with the server's error, exit 1.
func TestEndToEndFailure(t *testing.T) {
	srv := startServer(t, broker.Options{Limits: stomp.Limits{MaxBodySize: 100}}, nil)
	r, code, _ := runJSON(t, "-tcp", srv.tcp, "-size", "128", "-count", "50", "-drain", "100ms")
	if code != exitFailed || r.Valid {
		t.Fatalf("exit %d, valid %v", code, r.Valid)
	}
	if !strings.Contains(r.Error, "publisher 0") || !strings.Contains(r.Error, "ERROR") {
		t.Errorf("error %q does not say the publisher got an ERROR", r.Error)
	}
	if r.Lost == 0 && r.Published > 0 {
		t.Errorf("nothing counted lost: %+v", r)
	}
	var out, errs strings.Builder
	if code := run([]string{"-tcp", srv.tcp, "-size", "128", "-count", "50", "-drain", "100ms", "-quiet"}, &out, &errs); code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "INVALID") {
		t.Errorf("table not marked INVALID:\n%s", out.String())
	}
}

func TestEndToEndUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, code, stderr := runJSON(t, "-tcp", addr, "-count", "1")
	if code != exitFailed || !strings.Contains(stderr, "subscriber 0") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestEndToEndAuth(t *testing.T) {
	auth := newFakeAuth("ada@example.com", "secret")
	srv := startServer(t, broker.Options{}, auth)
	login := []string{"-auth-login", "ada@example.com:secret", "-auth-url", srv.http, "-count", "100"}
	tests := []struct {
		name  string
		args  []string
		sends int64 // SENDs that carried the token
	}{
		{"tcp", []string{"-tcp", srv.tcp}, 0},
		{"ws with tickets", []string{"-ws", srv.ws, "-scenario", "fanout", "-subs", "3"}, 0},
		{"sendauth", []string{"-ws", srv.ws, "-scenario", "sendauth"}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth.authorizedSends.Store(0)
			r, code, stderr := runJSON(t, append(tt.args, login...)...)
			if code != exitOK || !r.Valid || r.Lost != 0 {
				t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
			}
			if got := auth.authorizedSends.Load(); got != tt.sends {
				t.Errorf("%d SENDs carried the token, want %d", got, tt.sends)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		_, code, stderr := runJSON(t, "-tcp", srv.tcp, "-auth-login", "ada@example.com:guess", "-auth-url", srv.http, "-count", "1")
		if code != exitFailed || !strings.Contains(stderr, "401") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

// fakeAuth plays stompd's part of the contract that stompbench relies on
// (POST /auth/login, POST /auth/ticket, ?ticket= on the upgrade,
// Authorization on CONNECT and SEND), for one user.
type fakeAuth struct {
	email, password string
	token           string

	mu      sync.Mutex
	tickets map[string]bool
	issued  int

	authorizedSends atomic.Int64
}

func newFakeAuth(email, password string) *fakeAuth {
	return &fakeAuth{email: email, password: password, token: "token-for-" + email, tickets: map[string]bool{}}
}

func (a *fakeAuth) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
		return
	}
	if in.Email != a.email || in.Password != a.password {
		http.Error(w, `{"error":"invalid_credentials"}`, http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, `{"access_token":%q,"refresh_token":"r","token_type":"Bearer","expires_in":900}`, a.token)
}

func (a *fakeAuth) ticket(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.issued++
	t := "ticket-" + strconv.Itoa(a.issued)
	a.tickets[t] = true
	a.mu.Unlock()
	fmt.Fprintf(w, `{"ticket":%q,"expires_in":30}`, t)
}

func (a *fakeAuth) AuthenticateUpgrade(r *http.Request) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := r.URL.Query().Get("ticket")
	if !a.tickets[t] {
		return "", errors.New("missing, unknown or used ticket")
	}
	delete(a.tickets, t)
	return a.email, nil
}

// Authorize accepts a CONNECT with the token (over WebSocket, of the
// ticket's user), and checks and counts the token on any later frame that
// carries one.
func (a *fakeAuth) Authorize(_ context.Context, r broker.Request) (broker.Identity, error) {
	token := broker.Credential{Value: "Bearer " + a.token, Authorization: true}
	switch {
	case r.Action == broker.ActionConnect && r.Credential != token:
		return broker.Identity{}, errors.New("no valid token")
	case r.Action == broker.ActionConnect && r.Transport == "websocket" && r.UpgradeSubject != a.email:
		return broker.Identity{}, errors.New("ticket and token disagree")
	case r.Action == broker.ActionConnect:
		return broker.Identity{Subject: a.email}, nil
	case r.Action == broker.ActionSubscribe || r.Credential == broker.Credential{}:
		return r.Session, nil
	case r.Credential != token:
		return r.Session, errors.New("bad token on SEND")
	}
	a.authorizedSends.Add(1)
	return r.Session, nil
}

// Cancelling the run (as SIGINT does) stops publishing, lets what was sent
// arrive, and still reports.
func TestEndToEndInterrupted(t *testing.T) {
	srv := startServer(t, broker.Options{}, nil)
	cfg, err := parseArgs([]string{"-tcp", srv.tcp, "-scenario", "fanout", "-subs", "3", "-duration", "1h", "-quiet"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := newBench(cfg, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if b.tp.ledgers[0].deliveries.Load() >= 100 {
					cancel()
					return
				}
			}
		}
	}()
	r, err := b.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || !r.Valid || r.Published < 100 || r.Delivered != 3*r.Published || r.Lost != 0 {
		t.Errorf("report %+v", r)
	}
}

// TestEndToEndPersistentQueue: with -persistent, every queue message goes
// through stompd's journal on disk and leaves it once acknowledged.
func TestEndToEndPersistentQueue(t *testing.T) {
	store, err := persist.Open(filepath.Join(t.TempDir(), "stompd.db"), persist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var appended atomic.Int64
	j, err := store.Journal(persist.JournalOptions{OnCommit: func(c persist.JournalCommit) { appended.Add(int64(c.Appended)) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		j.Run(ctx)
	}()
	defer func() {
		cancel()
		<-committed
	}()
	srv := startServer(t, broker.Options{Journal: j}, nil)
	r, code, stderr := runJSON(t, "-tcp", srv.tcp, "-scenario", "queue", "-persistent", "-pubs", "2", "-subs", "3", "-count", "300")
	if code != exitOK || !r.Valid || r.Delivered != 600 {
		t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
	}
	if appended.Load() != 600 {
		t.Errorf("%d messages journaled, want 600", appended.Load())
	}
	left := 0
	if err := j.Load(func(uint64, []byte) { left++ }); err != nil || left != 0 {
		t.Errorf("%d messages left in the journal (%v), want 0: all were acknowledged", left, err)
	}
}
