package edge

import "testing"

func TestParseOrigins(t *testing.T) {
	list, err := ParseOrigins([]string{"https://app.example.com:3000", " http://dev.local:80 ", "HTTPS://Upper.Example.com", ""})
	if err != nil {
		t.Fatal(err)
	}
	anyOrigin, _ := ParseOrigins([]string{"*"})
	if !anyOrigin.AllowsAny() || list.AllowsAny() || (*Origins)(nil).AllowsAny() {
		t.Error("AllowsAny")
	}
	for _, bad := range []string{"app.example.com", "ftp://x.example", "https://x.example/path", "https://u@x.example"} {
		if _, err := ParseOrigins([]string{bad}); err == nil {
			t.Errorf("ParseOrigins accepted %q", bad)
		}
	}
	for _, tt := range []struct {
		origin, scheme, host string
		want                 bool
	}{
		{"https://app.example.com:3000", "http", "stompd.example.com", true},
		{"http://dev.local", "http", "stompd.example.com", true},
		{"https://upper.example.com:443", "http", "stompd.example.com", true},
		{"https://app.example.com", "http", "stompd.example.com", false},
		{"http://stompd.example.com:80", "http", "stompd.example.com", true},
		{"https://stompd.example.com", "http", "stompd.example.com", false},
		{"null", "http", "stompd.example.com", false},
	} {
		if got := list.Allows(tt.origin, tt.scheme, tt.host); got != tt.want {
			t.Errorf("Origin %s to %s://%s: %v, want %v", tt.origin, tt.scheme, tt.host, got, tt.want)
		}
	}
}
