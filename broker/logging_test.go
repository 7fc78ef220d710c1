package broker

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stompd/stompd/stomp/stomptest"
)

// TestLogging checks the one line per connection open and close, and that
// credentials never reach the log, even quoted in a rejected frame.
func TestLogging(t *testing.T) {
	var logs stomptest.Logs
	h := newHarness(t, Options{Logger: logs.Logger(slog.LevelDebug)})
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
