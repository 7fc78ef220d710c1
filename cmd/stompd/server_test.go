package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/stomp/stomptest"
)

// testUser is an account every test server has.
type testUser struct{ email, password, id string }

// testServer is a whole stompd, wired as the binary wires it, on loopback
// ports chosen by the system, with its data in a temporary dir.
type testServer struct {
	*server
	url, wsURL, stompAddr string
	users                 map[string]*testUser
	logs                  *stomptest.Logs // the server's logs; tests read them for secrets
	stop                  func() error    // shuts the server down and returns what run returned
}

// startServer runs a server with the given extra flags and two users, ada
// and bob; it stops when the test ends.
func startServer(t testing.TB, args ...string) *testServer {
	t.Helper()
	base := []string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--stomp", "127.0.0.1:0", "--log-level", "debug"}
	c, err := parseConfig(append(base, args...), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	logs := new(stomptest.Logs)
	s, err := newServer(c, logs.Logger(slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{server: s, logs: logs, users: map[string]*testUser{}}
	for _, name := range []string{"ada", "bob"} {
		ts.users[name] = ts.addUser(t, name+"@example.com", name+" password")
	}
	ts.url = "http://" + s.httpL.Addr().String()
	ts.wsURL = "ws://" + s.httpL.Addr().String() + "/ws"
	ts.stompAddr = s.stompL.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	ts.stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("server run: %v", err)
		}
	})
	return ts
}

func (ts *testServer) addUser(t testing.TB, email, password string) *testUser {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Split(email, "@")[0]
	if ts.cluster != nil {
		return &testUser{email: email, password: password, id: ts.addClusterUser(t, auth.User{Email: email, Name: name, PasswordHash: hash})}
	}
	u, err := ts.store.AddUser(persist.User{Email: email, Name: name, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return &testUser{email: email, password: password, id: u.ID}
}

// addClusterUser adds u to the users the nodes of a cluster share, unless
// another node of the test added it first, and returns its id.
func (ts *testServer) addClusterUser(t testing.TB, u auth.User) string {
	t.Helper()
	added, err := ts.cluster.store.AddUser(u)
	if errors.Is(err, redisstore.ErrExists) {
		u, err = ts.cluster.store.UserByEmail(u.Email)
		added.ID = u.ID
	}
	if err != nil {
		t.Fatal(err)
	}
	return added.ID
}

// tokens is the answer of /auth/login and /auth/refresh.
type tokens struct {
	Access    string `json:"access_token"`
	Refresh   string `json:"refresh_token"`
	Type      string `json:"token_type"`
	ExpiresIn int    `json:"expires_in"`
}

// apiError is the body of every error answer.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// login logs the test user name in.
func (ts *testServer) login(t testing.TB, name string) tokens {
	t.Helper()
	return login(t, ts.url, ts.users[name])
}

// login logs u in at the server at url; anything but 200 with both tokens
// fails the test.
func login(t testing.TB, url string, u *testUser) tokens {
	t.Helper()
	var tok tokens
	resp := httpJSON(t, "POST", url+"/auth/login", map[string]string{"email": u.email, "password": u.password}, &tok)
	if resp.StatusCode != 200 || tok.Access == "" || tok.Refresh == "" {
		t.Fatalf("login %s: status %d, tokens %+v", u.email, resp.StatusCode, tok)
	}
	return tok
}

func (ts *testServer) ticket(t testing.TB, access string) string {
	t.Helper()
	return ticket(t, ts.url, access)
}

// ticket asks the server at url for a ticket; anything but 200 with a
// ticket fails the test.
func ticket(t testing.TB, url, access string) string {
	t.Helper()
	var out struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}
	resp := httpJSON(t, "POST", url+"/auth/ticket", nil, &out, "Authorization", "Bearer "+access)
	if resp.StatusCode != 200 || out.Ticket == "" {
		t.Fatalf("ticket from %s: status %d", url, resp.StatusCode)
	}
	return out.Ticket
}

// connectWS logs name in over WebSocket: ticket, upgrade, CONNECT.
func (ts *testServer) connectWS(t testing.TB, access string) *stomptest.Client {
	t.Helper()
	p, status := dialWS(t, ts.wsURL+"?ticket="+ts.ticket(t, access), nil)
	if p == nil {
		t.Fatalf("upgrade: status %d", status)
	}
	p.Connect("Authorization:Bearer " + access)
	return p
}

// connectTCP logs in over TCP with a Bearer CONNECT.
func (ts *testServer) connectTCP(t testing.TB, access string) *stomptest.Client {
	t.Helper()
	p := stomptest.Dial(t, ts.stompAddr)
	p.Connect("Authorization:Bearer " + access)
	return p
}

// metricsText returns the server's /metrics page.
func metricsText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
