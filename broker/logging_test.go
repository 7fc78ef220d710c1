package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the broker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogging checks the one line per connection open and close, and that
// credentials never reach the log, even quoted in a rejected frame.
func TestLogging(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "accept-version:1.2", "login:alice", "passcode:s3cret"))
	c.expect("CONNECTED")
	c.write(frame("SEND", "", "destination:/topic/a", "Authorization Bearer s3cret"))
	if f := c.expect("ERROR"); !strings.Contains(f.Value("message"), "malformed header") {
		t.Fatalf("ERROR %s", dump(f))
	}
	c.expectClosed()
	waitFor(t, "the close line", func() bool { return strings.Contains(logs.String(), "connection closed") })
	out := logs.String()
	for _, want := range []string{"connection open", "transport=tcp", "user=alice", "duration=", "reason=\"protocol-error: malformed header\""} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("a credential reached the log:\n%s", out)
	}
}
