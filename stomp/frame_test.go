package stomp

import "testing"

func TestFrameHeaders(t *testing.T) {
	f := newFrame(MESSAGE, "body", "foo", "World", "foo", "Hello", "empty", "")
	tests := []struct {
		key  string
		want string
		ok   bool
	}{{"foo", "World", true}, {"empty", "", true}, {"missing", "", false}}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			v, ok := f.Get(tc.key)
			if string(v) != tc.want || ok != tc.ok || f.Value(tc.key) != tc.want || f.Has(tc.key) != tc.ok {
				t.Errorf("Get = %q, %v; want %q, %v", v, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFrameCloneEqual(t *testing.T) {
	f := newFrame(SEND, "body", "a", "1", "b", "2")
	c := f.Clone()
	c.Body[0] = 'B'
	if string(f.Body) != "body" {
		t.Fatal("Clone shares the body")
	}
	tests := []struct {
		name string
		g    *Frame
		want bool
	}{
		{"same", newFrame(SEND, "body", "a", "1", "b", "2"), true},
		{"other command", newFrame(MESSAGE, "body", "a", "1", "b", "2"), false},
		{"other body", c, false},
		{"other value", newFrame(SEND, "body", "a", "1", "b", "3"), false},
		{"other key", newFrame(SEND, "body", "a", "1", "c", "2"), false},
		{"fewer headers", newFrame(SEND, "body", "a", "1"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Equal(tc.g); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{Command(0).String(), "UNKNOWN"}, {Command(200).String(), "UNKNOWN"}, {NACK.String(), "NACK"},
		{Version(0).String(), "unknown"}, {V10.String(), "1.0"}, {V11.String(), "1.1"}, {V12.String(), "1.2"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}
