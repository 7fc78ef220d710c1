package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childStart bounds how long a child server may take to start: a race-built
// binary on a busy machine needs a while for its first bcrypt hash.
const childStart = 30 * time.Second

// child is a stompd process run from the test binary.
type child struct {
	cmd       *exec.Cmd
	url       string
	stompAddr string
	node      string      // its node id, from the log
	msgs      chan string // the msg of each log line after "stompd serving"
}

// startChild runs stompd on dataDir, with extra flags, in a child process
// and waits until it serves.
func startChild(t *testing.T, dataDir string, extra ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := append([]string{"--data", dataDir, "--http", "127.0.0.1:0", "--stomp", "127.0.0.1:0", "--log-format", "json"}, extra...)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, " "))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &child{cmd: cmd, msgs: make(chan string, 1000)}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, HTTP, STOMP, Node string }
			switch {
			case json.Unmarshal(sc.Bytes(), &line) != nil:
				select {
				case c.msgs <- sc.Text():
				default:
				}
			case line.Msg == "stompd serving":
				c.url, c.stompAddr, c.node = "http://"+line.HTTP, line.STOMP, line.Node
				close(serving)
			default:
				select {
				case c.msgs <- line.Msg:
				default:
				}
			}
		}
	}()
	select {
	case <-serving:
		return c
	case <-time.After(childStart):
		t.Fatalf("the child server did not start within %v", childStart)
	}
	return nil
}

// waitLog waits for a log line whose msg (or, for a line that is not JSON,
// whole text) contains want.
func (c *child) waitLog(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(childStart)
	for {
		select {
		case m := <-c.msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-timeout:
			t.Fatalf("the child never logged %q", want)
		}
	}
}

// dataDirWithUser makes a data dir holding one user, ada, the way an
// operator would: with the user command, before any server runs.
func dataDirWithUser(t *testing.T) (string, *testUser) {
	t.Helper()
	dir := t.TempDir()
	ada := &testUser{email: "ada@example.com", password: "ada password"}
	if code, _, stderr := runUser("add", "--data", dir, "--email", ada.email, "--password", ada.password, "--name", "Ada"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	return dir, ada
}

// TestRefreshTokensSurviveKill checks that a refresh token the API handed
// out survives SIGKILL: the server is killed right after answering logins,
// refreshes and a logout, and after a restart every live token refreshes
// exactly once, every rotated one is refused, and the logged-out login
// stays revoked.
func TestRefreshTokensSurviveKill(t *testing.T) {
	dir, ada := dataDirWithUser(t)

	c := startChild(t, dir)
	var live, rotated []string
	for i := range 10 {
		tok := login(t, c.url, ada)
		for range i % 3 {
			next := c.refresh(t, tok.Refresh, 200)
			rotated = append(rotated, tok.Refresh)
			tok = next
		}
		live = append(live, tok.Refresh)
	}
	out := login(t, c.url, ada)
	resp := httpJSON(t, "POST", c.url+"/auth/logout", map[string]string{"refresh_token": out.Refresh}, nil, "Authorization", "Bearer "+out.Access)
	if resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()

	c = startChild(t, dir)
	for i, tok := range live {
		c.refresh(t, tok, 200)
		if resp := httpJSON(t, "POST", c.url+"/auth/refresh", map[string]string{"refresh_token": tok}, nil); resp.StatusCode != 401 {
			t.Errorf("live token %d refreshed twice: %d", i, resp.StatusCode)
		}
	}
	for i, tok := range append(rotated, out.Refresh) {
		if resp := httpJSON(t, "POST", c.url+"/auth/refresh", map[string]string{"refresh_token": tok}, nil); resp.StatusCode != 401 {
			t.Errorf("rotated or logged-out token %d: %d, want 401", i, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, storeFile)); err != nil {
		t.Error(err)
	}
}

func (c *child) refresh(t *testing.T, refresh string, want int) tokens {
	t.Helper()
	var tok tokens
	if resp := httpJSON(t, "POST", c.url+"/auth/refresh", map[string]string{"refresh_token": refresh}, &tok); resp.StatusCode != want {
		t.Fatalf("refresh: %d, want %d", resp.StatusCode, want)
	}
	return tok
}
