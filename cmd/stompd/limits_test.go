package main

import (
	"testing"

	"github.com/stompd/stompd/stomp"
)

// TestMaxDestinationsSetting starts the whole server with
// --max-destinations set as a flag, an environment variable and a config
// file key, and checks that the broker refuses a destination beyond it.
func TestMaxDestinationsSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(t *testing.T) []string
	}{
		{"flag", func(*testing.T) []string { return []string{"--max-destinations", "1"} }},
		{"environment", func(t *testing.T) []string {
			t.Setenv("STOMPD_MAX_DESTINATIONS", "1")
			return nil
		}},
		{"config file", func(t *testing.T) []string {
			return []string{"--config", writeFile(t, "stompd.toml", "max-destinations = 1")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.set(t)...)
			access := ts.login(t, "ada").Access
			p := ts.connectTCP(t, access)
			p.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/only", "receipt:1")
			p.Expect(stomp.RECEIPT)
			p.Send(stomp.SEND, "", "destination:/queue/one-too-many")
			p.ExpectError("limit-exceeded", "too many destinations: the limit is 1")
		})
	}
}
