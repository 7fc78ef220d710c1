package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

const healthUsage = `Usage:
  stompd health [--http ADDR] [--tls-cert FILE] [--config FILE] [--timeout 3s]

Asks the server listening on --http for GET /readyz and exits 0 when it
answers 200, 1 otherwise (not ready, not listening, or too slow), printing
why. It is a container's health check: images without curl run it as
HEALTHCHECK CMD ["stompd", "health"].

--http, --tls-cert and --config are read as the server reads them, also
from STOMPD_HTTP, STOMPD_TLS_CERT, STOMPD_CONFIG and the config file, so the
check finds the server it runs beside. An unspecified host (0.0.0.0, [::]
or none) is asked on loopback. With a TLS certificate the check speaks
HTTPS and does not verify the certificate: it asks its own server whether
it is ready, by address.
`

// healthHint tells where the health command's flags are listed.
const healthHint = "stompd health --help lists them"

// healthCommand runs stompd health.
func healthCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stompd health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "127.0.0.1:8080", "the server's HTTP listen address")
	cert := fs.String("tls-cert", "", "the server's TLS certificate file: set when the server speaks HTTPS")
	fs.String(configFlag, "", "the server's TOML config file, read for http and tls-cert")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	err := parseSettings(fs, args, settingSources{shared: []string{"http", "tls-cert", configFlag}, hint: healthHint})
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, healthUsage)
	}
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageError{fmt.Errorf("--timeout must be positive, not %v", *timeout)}
	}
	url, err := readyzURL(*addr, *cert != "")
	if err != nil {
		return usageError{err}
	}
	if err := probe(url, *timeout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// readyzURL is the URL of /readyz on the server listening on addr, on
// loopback when addr leaves the host unspecified.
func readyzURL(addr string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("--http %q: want host:port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probe GETs url and returns nil for a 200 within timeout, and otherwise
// an error that says what came back.
func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// A transport without a Proxy: the server is asked directly, whatever
	// HTTP_PROXY says.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
