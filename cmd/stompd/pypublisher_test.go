package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
)

// pythonWithStomp finds a python3 that has stomp.py (Debian's
// python3-stomp): the one on PATH, else the system's. Without one the test
// is skipped, except under CI=true, where it fails. The check runs in an
// empty dir, where no stomp/ folder (this repository has one) passes for
// the library.
func pythonWithStomp(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		check := exec.Command(path, "-c", "import stomp.connect")
		check.Dir = t.TempDir()
		if check.Run() == nil {
			return path
		}
	}
	const msg = "python3 with stomp.py not found (apt-get install -y python3-stomp): the Python example's test needs it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPythonPublisherExample runs cmd/examples/python/publisher.py against a
// server whose access tokens last 4 s: the service account publishes 24
// messages over 6 s, so it must refresh its token in band at least once
// without losing its connection, and exits 0; a go-stomp subscriber (a
// service account too), which keeps its own session alive the same way,
// receives every message in order.
func TestPythonPublisherExample(t *testing.T) {
	python := pythonWithStomp(t)
	ts := startServer(t, "--access-ttl", "4s")
	_, secret, err := ts.auth.AddClient("billing", []string{"publisher"})
	if err != nil {
		t.Fatal(err)
	}
	sub := goStompSubscriber(t, ts, "/topic/billing")

	const n = 24
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script, _ := filepath.Abs("../examples/python/publisher.py")
	cmd := exec.CommandContext(ctx, python, script, "--url", ts.url, "--stomp", ts.stompAddr,
		"--client-id", "billing", "--count", fmt.Sprint(n), "--interval", "0.25")
	cmd.Env = append(os.Environ(), "STOMPD_CLIENT_SECRET="+secret)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("publisher.py: %v\n%s", err, out)
	}
	t.Logf("publisher.py: %s", out)
	for i := 1; i <= n; i++ {
		select {
		case m := <-sub.C:
			if m.Err != nil || string(m.Body) != fmt.Sprintf("message %d", i) {
				t.Fatalf("message %d: %q, %v", i, m.Body, m.Err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the subscriber got %d of %d messages", i-1, n)
		}
	}
}

// goStompSubscriber subscribes to dest with go-stomp over TCP as the
// service account audit, waits until the subscription is in place, and
// keeps the session alive past its short-lived token by sending a fresh
// one to /sys/auth/refresh every second, until the test ends.
func goStompSubscriber(t *testing.T, ts *testServer, dest string) *gostomp.Subscription {
	t.Helper()
	_, secret, err := ts.auth.AddClient("audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := gostomp.Dial("tcp", ts.stompAddr, gostomp.ConnOpt.Login("audit", mustToken(t, ts.url, "audit", secret)))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := conn.Subscribe(dest, gostomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	// A SEND with a receipt after the SUBSCRIBE: once it is answered, the
	// subscription took effect.
	if err := conn.Send("/topic/fence", "text/plain", nil, gostomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
			fresh, err := freshClientToken(ts.url, "audit", secret)
			if err == nil {
				err = conn.Send("/sys/auth/refresh", "", nil, gostomp.SendOpt.Header("Authorization", "Bearer "+fresh), gostomp.SendOpt.Receipt)
			}
			if err != nil {
				t.Errorf("in-band refresh of the subscriber: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-stopped
		conn.Disconnect()
	})
	return sub
}

// freshClientToken gets a token for client id from /auth/token; it is for
// goroutines other than the test's, which must not stop the test.
func freshClientToken(base, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := http.PostForm(base+"/auth/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok tokens
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Access == "" {
		return "", fmt.Errorf("token for %s: status %d, %v", id, resp.StatusCode, err)
	}
	return tok.Access, nil
}
