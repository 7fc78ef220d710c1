package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/peterbourgon/ff/v3"

	"github.com/stompd/stompd/broker"
)

// envPrefix names every setting's environment variable: --access-ttl is
// STOMPD_ACCESS_TTL.
const envPrefix = "STOMPD"

// config is every setting of the server. Each field is a flag, an
// environment variable and a key of the config file, with precedence
// flag > environment > file > default.
type config struct {
	HTTPAddr       string
	STOMPAddr      string
	DataDir        string
	ConfigFile     string
	Demo           bool
	AllowedOrigins string
	LogFormat      string
	LogLevel       string
	TLSCert        string
	TLSKey         string
	PprofAddr      string
	TrustedProxies string
	// proxies is TrustedProxies as check parsed it.
	proxies broker.TrustedProxies

	AccessTTL      time.Duration
	RefreshTTL     time.Duration
	TicketTTL      time.Duration
	Issuer         string
	Audience       string
	HS256File      string
	PublicKeyFile  string
	JWKSFile       string
	UpgradeAuth    string
	SweepInterval  time.Duration
	ShutdownGrace  time.Duration
	HeaderTimeout  time.Duration
	ConnectTimeout time.Duration

	MaxBodySize           int
	MaxFrameBeforeConnect int
	MaxHeaders            int
	MaxHeaderLine         int
	MaxSubscriptions      int
	MaxUnacked            int
	MaxPendingBytes       int
	WriteTimeout          time.Duration
	HeartBeat             time.Duration
	MinHeartBeat          time.Duration
	MaxQueueLength        int
	MaxQueueBytes         int
	MaxQueuedBytes        int
	MaxDestinations       int
	MaxTransactions       int
	MaxTransactionFrames  int
	MaxTransactionBytes   int
	MaxConnections        int
	MaxConnectionsPerAddr int
}

// newFlagSet declares every setting on a flag set writing into c.
func newFlagSet(c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("stompd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address: auth API, WebSocket at /ws, /metrics, health")
	fs.StringVar(&c.STOMPAddr, "stomp", "127.0.0.1:61613", "STOMP over TCP listen address; empty disables it")
	fs.StringVar(&c.DataDir, "data", "./data", "data directory: the store file and the signing key live here")
	fs.StringVar(&c.ConfigFile, "config", "", "TOML config file; keys are these flag names, plus [[rules]] tables")
	fs.BoolVar(&c.Demo, "demo", false, "create demo users and serve the demo chat page at /")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated origins (https://app.example.com:3000) allowed to upgrade and call /auth; same-origin is always allowed; * allows any")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM) for both listeners; needs --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM) for both listeners")
	fs.StringVar(&c.PprofAddr, "pprof", "", "serve net/http/pprof on this separate address; empty disables it")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated IPs or CIDR ranges (127.0.0.1/32,10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the client for login throttling, per-address connection limits and logs; empty trusts none")

	fs.DurationVar(&c.AccessTTL, "access-ttl", 15*time.Minute, "access token lifetime")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", 336*time.Hour, "refresh token lifetime")
	fs.DurationVar(&c.TicketTTL, "ticket-ttl", 30*time.Second, "WebSocket upgrade ticket lifetime (never beyond its access token)")
	fs.StringVar(&c.Issuer, "issuer", "stompd", "iss claim issued and required")
	fs.StringVar(&c.Audience, "audience", "stompd", "aud claim issued and required")
	fs.StringVar(&c.HS256File, "jwt-hs256-secret-file", "", "sign and verify access tokens with HS256 and the secret in this file instead of Ed25519")
	fs.StringVar(&c.PublicKeyFile, "jwt-public-key", "", "verify-only: accept access tokens signed by this PEM public key; login and refresh are disabled")
	fs.StringVar(&c.JWKSFile, "jwks-file", "", "verify-only: accept access tokens signed by the keys in this JWKS file; login and refresh are disabled")
	fs.StringVar(&c.UpgradeAuth, "upgrade-auth", "ticket", "how a WebSocket upgrade is authenticated: ticket, query-token, protocol-token or none (CONNECT must then bring the token)")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", time.Minute, "how often expired refresh tokens and denials are deleted")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long a graceful shutdown may take before connections are cut")
	fs.DurationVar(&c.HeaderTimeout, "http-header-timeout", 5*time.Second, "time allowed to read an HTTP request's headers")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "time from accept or upgrade to CONNECT")

	fs.IntVar(&c.MaxBodySize, "max-body-size", 1<<20, "largest frame body in bytes")
	fs.IntVar(&c.MaxFrameBeforeConnect, "max-frame-before-connect", 16<<10, "largest frame in bytes before CONNECT succeeds")
	fs.IntVar(&c.MaxHeaders, "max-headers", 64, "most headers in one frame")
	fs.IntVar(&c.MaxHeaderLine, "max-header-line", 8<<10, "longest header line in bytes")
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", 1000, "most subscriptions per connection")
	fs.IntVar(&c.MaxUnacked, "max-unacked", 1000, "most unacknowledged messages per subscription without prefetch-count")
	fs.IntVar(&c.MaxPendingBytes, "max-pending-bytes", 4<<20, "outbound bytes a connection may have pending before it is cut as a slow consumer")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "write deadline per batch of frames")
	fs.DurationVar(&c.HeartBeat, "heart-beat", 10*time.Second, "heart-beat interval the server offers")
	fs.DurationVar(&c.MinHeartBeat, "min-heart-beat", time.Second, "shortest heart-beat interval the server accepts")
	fs.IntVar(&c.MaxQueueLength, "max-queue-length", 100000, "messages buffered per queue")
	fs.IntVar(&c.MaxQueueBytes, "max-queue-bytes", 64<<20, "memory in bytes a queue's buffered messages may take")
	fs.IntVar(&c.MaxQueuedBytes, "max-queued-bytes", 1<<30, "memory in bytes all queues and their buffered messages may take together")
	fs.IntVar(&c.MaxDestinations, "max-destinations", 100000, "most topics, queues and user destinations at once; a SEND or SUBSCRIBE that would create one more is refused")
	fs.IntVar(&c.MaxTransactions, "max-transactions", 16, "open transactions per connection")
	fs.IntVar(&c.MaxTransactionFrames, "max-transaction-frames", 1000, "SEND, ACK and NACK frames per transaction")
	fs.IntVar(&c.MaxTransactionBytes, "max-transaction-bytes", 4<<20, "bytes a connection's open transactions may hold until COMMIT")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most open connections; 0 is unlimited")
	fs.IntVar(&c.MaxConnectionsPerAddr, "max-connections-per-addr", 0, "most open connections per client address; 0 is unlimited")
	fs.Usage = func() { usage(fs) }
	return fs
}

// parseConfig reads the settings from args, the environment and the config
// file, in that order of precedence, and checks them.
func parseConfig(args []string, out io.Writer) (*config, error) {
	c := new(config)
	fs := newFlagSet(c, out)
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix(envPrefix),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(tomlParser),
	)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

// check rejects values no server can run with, naming the setting.
func (c *config) check() error {
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log-format: %q is neither text nor json", c.LogFormat)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("tls-cert and tls-key go together")
	case c.PublicKeyFile != "" && c.JWKSFile != "":
		return errors.New("jwt-public-key and jwks-file exclude each other")
	case c.HS256File != "" && (c.PublicKeyFile != "" || c.JWKSFile != ""):
		return errors.New("jwt-hs256-secret-file excludes jwt-public-key and jwks-file")
	}
	for name, d := range map[string]time.Duration{
		"access-ttl": c.AccessTTL, "refresh-ttl": c.RefreshTTL, "ticket-ttl": c.TicketTTL,
		"sweep-interval": c.SweepInterval, "shutdown-grace": c.ShutdownGrace,
		"http-header-timeout": c.HeaderTimeout, "connect-timeout": c.ConnectTimeout,
		"write-timeout": c.WriteTimeout, "heart-beat": c.HeartBeat, "min-heart-beat": c.MinHeartBeat,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: %v is not a positive duration", name, d)
		}
	}
	for name, n := range map[string]int{
		"max-body-size": c.MaxBodySize, "max-frame-before-connect": c.MaxFrameBeforeConnect,
		"max-headers": c.MaxHeaders, "max-header-line": c.MaxHeaderLine,
		"max-subscriptions": c.MaxSubscriptions, "max-unacked": c.MaxUnacked,
		"max-pending-bytes": c.MaxPendingBytes, "max-queue-length": c.MaxQueueLength,
		"max-queue-bytes": c.MaxQueueBytes, "max-queued-bytes": c.MaxQueuedBytes,
		"max-destinations": c.MaxDestinations,
		"max-transactions": c.MaxTransactions, "max-transaction-frames": c.MaxTransactionFrames,
		"max-transaction-bytes": c.MaxTransactionBytes,
	} {
		if n <= 0 {
			return fmt.Errorf("%s: %d is not a positive number", name, n)
		}
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerAddr < 0 {
		return errors.New("max-connections and max-connections-per-addr cannot be negative")
	}
	var err error
	if c.proxies, err = broker.ParseTrustedProxies(splitList(c.TrustedProxies)); err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	return nil
}

// tomlParser hands ff every top-level key of a TOML config file as a flag
// value. Tables are sections read by their own loaders (the [[rules]]
// authorisation rules) and are skipped here; ff rejects unknown keys.
func tomlParser(r io.Reader, set func(name, value string) error) error {
	var doc map[string]any
	if _, err := toml.NewDecoder(r).Decode(&doc); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	for key, v := range doc {
		if key == rulesKey {
			continue
		}
		s, err := tomlScalar(v)
		if err != nil {
			return fmt.Errorf("config file key %q: %w", key, err)
		}
		if err := set(key, s); err != nil {
			return err
		}
	}
	return nil
}

func tomlScalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64, float64, bool:
		return fmt.Sprint(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("list element %v is not a string", e)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("a %T is not a setting value", v)
}

// usage prints every setting with its environment variable and default.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `stompd: a STOMP 1.2 broker with JWT authentication.

Usage:
  stompd [flags]                    run the broker
  stompd user add|list|del|passwd   manage users (stompd user -h)
  stompd version                    print version information

Every flag can also be set by its environment variable or as a key in the
--config TOML file; a flag beats the environment, which beats the file.

`)
	fs.VisitAll(func(f *flag.Flag) {
		env := envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s (%s, default %s)\n      %s\n", f.Name, env, def, f.Usage)
	})
	fmt.Fprintln(w)
}
