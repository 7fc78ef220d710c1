package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// startAgain runs a new stompd on the HTTP address and data dir of ts,
// which must have stopped, as an operator restarts it: the users, keys
// and refresh tokens are those ts left in its data dir. args are the
// flags ts was started with. It stops when the test ends.
func startAgain(t *testing.T, ts *testServer, args ...string) {
	t.Helper()
	base := []string{"--data", ts.cfg.DataDir, "--http", ts.httpL.Addr().String(), "--stomp", ""}
	c, err := parseConfig(append(base, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(c, ts.logs.Logger(slog.LevelInfo))
	if err != nil {
		t.Fatalf("restart on %s: %v", ts.httpL.Addr(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("restarted server: %v", err)
		}
	})
}
