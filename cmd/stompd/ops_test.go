package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestLogsHoldNoSecrets runs a whole session, with failures, and then
// looks for every secret it used in the server's logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	ts := startServer(t)
	ada := ts.users["ada"]
	tok := ts.login(t, "ada")
	ticket := ts.ticket(t, tok.Access)
	p, _ := dialWS(t, ts.wsURL+"?ticket="+ticket, nil)
	p.Connect("Authorization:Bearer " + tok.Access)
	p.Send(stomp.SEND, "", "destination:/sys/auth/refresh", "Authorization:Bearer "+tok.Access, "receipt:r")
	p.Expect(stomp.RECEIPT)
	dialWS(t, ts.wsURL+"?ticket="+ticket, nil) // replayed: refused and logged
	httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": ada.email, "password": "wrong " + ada.password}, nil)
	bad := stomptest.Dial(t, ts.stompAddr)
	bad.Send(stomp.CONNECT, "", "accept-version:1.2", "host:x", "login:ada", "passcode:"+tok.Refresh)
	bad.Expect(stomp.ERROR)
	next := ts.refresh(t, tok.Refresh)
	httpJSON(t, "POST", ts.url+"/auth/logout", map[string]string{"refresh_token": next.Refresh}, nil, "Authorization", "Bearer "+next.Access)
	p.Expect(stomp.ERROR)

	logs := ts.logs.String()
	for _, line := range []string{
		"connection closed",
		`msg="auth failure" stage=login reason=bad_credentials`,
		`msg="auth failure" stage=upgrade reason=`,
		`msg="auth failure" stage=connect reason=`,
	} {
		if !strings.Contains(logs, line) {
			t.Errorf("the logs lack %q:\n%s", line, logs)
		}
	}
	for name, secret := range map[string]string{
		"access token": tok.Access, "refreshed access token": next.Access,
		"refresh token": tok.Refresh, "rotated refresh token": next.Refresh,
		"ticket": ticket, "password": ada.password,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", name)
		}
		if tail := secret[len(secret)-min(16, len(secret)):]; strings.Contains(logs, tail) {
			t.Errorf("the logs hold the end of the %s", name)
		}
	}
}

// TestReadinessFollowsLifecycle checks /readyz answers 200 while serving
// and 503 once shutdown starts, while /healthz stays live.
func TestReadinessFollowsLifecycle(t *testing.T) {
	ts := startServer(t)
	waitStatus(t, ts.url+"/readyz", 200)
	wantReady(t, ts, "1")
	if got := status(t, ts.url+"/healthz"); got != 200 {
		t.Errorf("/healthz: %d", got)
	}
	p := ts.connectTCP(t, ts.login(t, "ada").Access)
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	if f := p.Expect(stomp.ERROR); f.Value("code") != "server-shutdown" {
		t.Errorf("shutdown ERROR code %q", f.Value("code"))
	}
	if ts.health.ready.Load() || testutil.ToFloat64(ts.metrics.Ready) != 0 {
		t.Error("still ready after shutdown started")
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func status(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitStatus(t testing.TB, url string, want int) {
	t.Helper()
	waitStatusWithin(t, url, want, stomptest.Timeout)
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLSOnBothListeners serves HTTP and STOMP over TLS with a generated
// certificate.
func TestTLSOnBothListeners(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	ts := startServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(strings.Replace(ts.url, "http:", "https:", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("https /healthz: %d", resp.StatusCode)
	}
	conn, err := tls.Dial("tcp", ts.stompAddr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	p := stomptest.NewClient(t, conn)
	p.Send(stomp.CONNECT, "", "accept-version:1.2", "host:localhost")
	p.ExpectError("unauthorized", "missing access token")
}

// writeCert writes a self-signed certificate for 127.0.0.1 and returns
// its files and a pool that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stompd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFileAt(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFileAt(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
