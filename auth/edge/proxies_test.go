package edge

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func mustTrust(t testing.TB, list ...string) TrustedProxies {
	t.Helper()
	p, err := ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    []string
		wantErr string // a part of the error; "" for none
		any     bool
	}{
		{"none", nil, "", false},
		{"ranges and addresses", []string{"127.0.0.1/32", "10.0.0.0/8", "192.0.2.7", "::1", "2001:db8::/32"}, "", false},
		{"host bits set", []string{"10.1.2.3/8"}, "", false},
		{"every IPv4 address", []string{"0.0.0.0/0"}, "", true},
		{"every IPv6 address", []string{"::/0"}, "", true},
		{"hostname", []string{"proxy.example"}, `"proxy.example"`, false},
		{"bad prefix length", []string{"10.0.0.0/33"}, `"10.0.0.0/33"`, false},
		{"empty entry", []string{""}, `""`, false},
		{"second entry bad", []string{"10.0.0.0/8", "10.0.0.0/x"}, `"10.0.0.0/x"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseTrustedProxies(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.TrustsAny() != tc.any {
				t.Errorf("TrustsAny: got %v", p.TrustsAny())
			}
		})
	}
}

// TestClientAddress is nginx's realip with real_ip_recursive on: the
// header is read only from a trusted peer, from the right, past trusted
// hops.
func TestClientAddress(t *testing.T) {
	p := mustTrust(t, "127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48", "::ffff:172.16.0.0/108")
	for _, tc := range []struct {
		name, peer string
		xff        []string // header lines
		want       string
	}{
		{"untrusted peer, no header", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"untrusted peer, forged header", "192.0.2.1:5000", []string{"198.51.100.9"}, "192.0.2.1"},
		{"untrusted peer, forged trusted chain", "192.0.2.1:5000", []string{"198.51.100.9, 10.0.0.1"}, "192.0.2.1"},
		{"trusted peer, no header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"trusted peer, client's forgery left of the hop", "127.0.0.1:5000", []string{"203.0.113.5, 198.51.100.9"}, "198.51.100.9"},
		{"many hops", "10.0.0.2:5000", []string{"203.0.113.5, 198.51.100.9, 10.1.1.1 ,10.2.2.2"}, "198.51.100.9"},
		{"many header lines", "10.0.0.2:5000", []string{"203.0.113.5, 198.51.100.9", "10.1.1.1", "10.2.2.2"}, "198.51.100.9"},
		{"every hop trusted", "10.0.0.2:5000", []string{"10.3.3.3, 127.0.0.1, 10.1.1.1"}, "10.3.3.3"},
		{"entries with ports", "127.0.0.1:5000", []string{"[2001:db8:2::7]:4711, 10.1.1.1:80"}, "2001:db8:2::7"},
		{"IPv6 peer and hops", "[2001:db8:1::1]:5000", []string{"2001:db8:2::7, 2001:db8:1::2"}, "2001:db8:2::7"},
		{"IPv6 untrusted peer", "[2001:db8:2::1]:5000", []string{"198.51.100.9"}, "2001:db8:2::1"},
		{"IPv4-mapped hop", "127.0.0.1:5000", []string{"::ffff:198.51.100.9, ::ffff:172.16.0.1"}, "198.51.100.9"},
		{"zone dropped", "127.0.0.1:5000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"garbage", "127.0.0.1:5000", []string{"not-an-ip"}, "127.0.0.1"},
		{"garbage before the client", "127.0.0.1:5000", []string{"198.51.100.9, <script>"}, "127.0.0.1"},
		{"garbage left of the client is not read", "127.0.0.1:5000", []string{"<script>, 198.51.100.9"}, "198.51.100.9"},
		{"empty entry", "127.0.0.1:5000", []string{"198.51.100.9,,10.1.1.1"}, "127.0.0.1"},
		{"empty header", "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"obfuscated identifier", "127.0.0.1:5000", []string{"unknown"}, "127.0.0.1"},
		{"peer without port", "10.0.0.2", []string{"198.51.100.9"}, "198.51.100.9"},
		{"peer not an address", "@", []string{"198.51.100.9"}, "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := p.ClientAddress(r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if got := (TrustedProxies{}).ClientAddress(r); got != hostOf(tc.peer) {
				t.Errorf("trusting nobody: got %q, want the peer %q", got, hostOf(tc.peer))
			}
		})
	}
}

func BenchmarkClientAddress(b *testing.B) {
	p := mustTrust(b, "10.0.0.0/8")
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "10.0.0.2:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.5, 198.51.100.9, 10.1.1.1, 10.2.2.2")
	b.ReportAllocs()
	for b.Loop() {
		p.ClientAddress(r)
	}
}

// TestScheme checks that X-Forwarded-Proto is believed only from a trusted
// peer, and only as one line saying http or https.
func TestScheme(t *testing.T) {
	p := mustTrust(t, "10.0.0.0/8")
	for _, tc := range []struct {
		name      string
		peer      string
		tls       bool
		forwarded []string
		want      string
	}{
		{"plain", "192.0.2.1:4711", false, nil, "http"},
		{"TLS", "192.0.2.1:4711", true, nil, "https"},
		{"untrusted peer says https", "192.0.2.1:4711", false, []string{"https"}, "http"},
		{"untrusted peer says http over TLS", "192.0.2.1:4711", true, []string{"http"}, "https"},
		{"trusted proxy says https", "10.1.2.3:4711", false, []string{"https"}, "https"},
		{"trusted proxy says HTTPS", "10.1.2.3:4711", false, []string{" HTTPS "}, "https"},
		{"trusted proxy says http", "10.1.2.3:4711", true, []string{"http"}, "http"},
		{"trusted proxy, a list", "10.1.2.3:4711", false, []string{"https, http"}, "http"},
		{"trusted proxy, two lines", "10.1.2.3:4711", false, []string{"https", "https"}, "http"},
		{"trusted proxy, another scheme", "10.1.2.3:4711", false, []string{"wss"}, "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://stompd.example/ws"
			if tc.tls {
				url = "https://stompd.example/ws" // sets r.TLS
			}
			r := httptest.NewRequest("GET", url, nil)
			r.RemoteAddr = tc.peer
			r.Header["X-Forwarded-Proto"] = tc.forwarded
			if got := p.Scheme(r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
