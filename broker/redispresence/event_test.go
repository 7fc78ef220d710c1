package redispresence

import (
	"testing"

	"github.com/stompd/stompd/broker"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		msg  string
		want event
		ok   bool
	}{
		{"17 4 j 10 5\n/topic/a balicealice", event{"17", 4, true, "/topic/a b", broker.Member{Sub: "alice", Name: "alice"}}, true},
		{"17 5 l 8 3\n/topic/xbobBob Bee", event{"17", 5, false, "/topic/x", broker.Member{Sub: "bob", Name: "Bob Bee"}}, true},
		{"17 6 l 8 4\n/topic/x\nbo\n", event{"17", 6, false, "/topic/x", broker.Member{Sub: "\nbo\n"}}, true},
		{"17 5 x 8 3\n/topic/xbob", event{}, false},
		{"17 5 j 8 30\n/topic/xbob", event{}, false},
		{"17 5 j -1 3\n/topic/xbob", event{}, false},
		{"17 5 j 8\n/topic/xbob", event{}, false},
		{"no newline", event{}, false},
	}
	for _, tt := range tests {
		got, ok := parseEvent(tt.msg)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseEvent(%q) = %+v, %v; want %+v, %v", tt.msg, got, ok, tt.want, tt.ok)
		}
	}
}
