package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/broker"
)

// config is every setting of the server. Each field is a flag, an
// environment variable and a key of the config file, with precedence
// flag > environment > file > default.
type config struct {
	sharedSettings
	HTTPAddr       string
	STOMPAddr      string
	Demo           bool
	AllowedOrigins string
	LogFormat      string
	LogLevel       string
	TLSCert        string
	TLSKey         string
	PprofAddr      string
	TrustedProxies string
	// What check parsed: the proxies, origins, upgrade strategies and
	// log level.
	proxies  broker.TrustedProxies
	origins  *auth.Origins
	upgrade  auth.UpgradeStrategy
	logLevel slog.Level

	HTTPReadTimeout  time.Duration
	HTTPWriteTimeout time.Duration
	HTTPIdleTimeout  time.Duration

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
	MaxTicketsPerLogin    int
	MaxTicketsPerUser     int
}

// sharedSettings are the settings the user commands read as the server
// does: from a flag, the environment or the config file.
type sharedSettings struct {
	DataDir           string
	ConfigFile        string
	MinPasswordLength int
}

// declare declares the shared settings on fs.
func (s *sharedSettings) declare(fs *flag.FlagSet) {
	fs.StringVar(&s.DataDir, "data", "./data", "data directory: the store file and the signing key live here")
	fs.StringVar(&s.ConfigFile, configFlag, "", "TOML config file; keys are these flag names, plus [[rules]] tables")
	fs.IntVar(&s.MinPasswordLength, "min-password-length", 8, "fewest characters of a password that stompd user add and passwd set")
}

// check refuses values of the shared settings that no command takes.
func (s *sharedSettings) check() error {
	return positive(map[string]int{"min-password-length": s.MinPasswordLength})
}

// sharedSettingNames lists the flags sharedSettings declares.
func sharedSettingNames() []string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	new(sharedSettings).declare(fs)
	return flagNames(fs)
}

// settingNames lists every setting of the server, which are the keys a
// config file may hold besides its [[rules]].
func settingNames() []string {
	return flagNames(newFlagSet(new(config), io.Discard))
}

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// newFlagSet declares every setting on a flag set writing into c.
func newFlagSet(c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("stompd", flag.ContinueOnError)
	fs.SetOutput(out)
	c.sharedSettings.declare(fs)
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address: auth API, WebSocket at /ws, /metrics, health; cannot be empty")
	fs.StringVar(&c.STOMPAddr, "stomp", "127.0.0.1:61613", "STOMP over TCP listen address; empty disables it")
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
	fs.StringVar(&c.UpgradeAuth, "upgrade-auth", "ticket", "how a WebSocket upgrade may authenticate, a comma-separated list of "+
		strings.Join(auth.UpgradeStrategyNames(), ", ")+": ticket (always on) is ?ticket=<ticket>, query also takes ?access_token=<token>, "+
		"protocol a bearer.<token> entry of Sec-WebSocket-Protocol, and anonymous lets an upgrade without credentials through (its CONNECT must bring the token)")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", time.Minute, "how often expired refresh tokens and denials are deleted")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long a graceful shutdown may take before connections are cut")
	fs.DurationVar(&c.HeaderTimeout, "http-header-timeout", 5*time.Second, "time allowed to read an HTTP request's headers")
	fs.DurationVar(&c.HTTPReadTimeout, "http-read-timeout", 30*time.Second, "time allowed to read a whole HTTP request, body included; WebSocket connections are not bound by it")
	fs.DurationVar(&c.HTTPWriteTimeout, "http-write-timeout", time.Minute, "time allowed from the end of an HTTP request's headers to the end of its answer; WebSocket connections are not bound by it")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle HTTP keep-alive connection is kept open")
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
	fs.IntVar(&c.MaxTicketsPerLogin, "max-tickets-per-login", auth.DefaultMaxTicketsPerLogin, "most unused WebSocket tickets one login may hold; past it /auth/ticket answers 429 until one is used or expires")
	fs.IntVar(&c.MaxTicketsPerUser, "max-tickets-per-user", auth.DefaultMaxTicketsPerUser, "most unused WebSocket tickets one user may hold across all its logins; past it /auth/ticket answers 429 until one is used or expires")
	fs.Usage = func() { usage(fs) }
	return fs
}

// parseConfig reads the settings from args, the environment and the config
// file, in that order of precedence, and checks them. It prints the help
// to out when args ask for it.
func parseConfig(args []string, out io.Writer) (*config, error) {
	c := new(config)
	fs := newFlagSet(c, out)
	err := parseSettings(fs, args, settingSources{hint: settingsHint})
	if errors.Is(err, flag.ErrHelp) {
		usage(fs)
	}
	if err != nil {
		return nil, err
	}
	return c, c.check()
}

// check rejects values no server can run with, in one line that names the
// setting and what it takes.
func (c *config) check() error {
	for _, check := range []func() error{c.sharedSettings.check, c.checkChoices, c.checkAddresses, c.checkDurations, c.checkNumbers, c.checkAccess} {
		if err := check(); err != nil {
			return usageError{err}
		}
	}
	return nil
}

func (c *config) checkChoices() error {
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return valueError{"--log-level", c.LogLevel, "choose debug, info, warn or error"}
	}
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return valueError{"--log-format", c.LogFormat, "choose text or json"}
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together: set both or neither")
	case c.PublicKeyFile != "" && c.JWKSFile != "":
		return errors.New("--jwt-public-key and --jwks-file exclude each other: set one")
	case c.HS256File != "" && (c.PublicKeyFile != "" || c.JWKSFile != ""):
		return errors.New("--jwt-hs256-secret-file excludes --jwt-public-key and --jwks-file: set one")
	}
	return nil
}

// checkAddresses refuses an empty --http, which would listen on every
// interface: HTTP serves the auth API and cannot be off, unlike --stomp
// and --pprof, which an empty value disables. It also refuses a listen
// address without a port, which would listen on a random one.
func (c *config) checkAddresses() error {
	if c.HTTPAddr == "" {
		return valueError{"--http", "", "HTTP serves login and the WebSocket endpoint and cannot be off: give host:port, such as 127.0.0.1:8080"}
	}
	for _, a := range [...]struct{ name, addr string }{{"http", c.HTTPAddr}, {"stomp", c.STOMPAddr}, {"pprof", c.PprofAddr}} {
		if _, port, err := net.SplitHostPort(a.addr); a.addr != "" && (err != nil || port == "") {
			return valueError{"--" + a.name, a.addr, "want host:port, such as 127.0.0.1:8080 (port 0 picks a free one)"}
		}
	}
	return nil
}

func (c *config) checkDurations() error {
	for name, d := range map[string]time.Duration{
		"access-ttl": c.AccessTTL, "refresh-ttl": c.RefreshTTL, "ticket-ttl": c.TicketTTL,
		"sweep-interval": c.SweepInterval, "shutdown-grace": c.ShutdownGrace,
		"http-header-timeout": c.HeaderTimeout, "http-read-timeout": c.HTTPReadTimeout,
		"http-write-timeout": c.HTTPWriteTimeout, "http-idle-timeout": c.HTTPIdleTimeout,
		"connect-timeout": c.ConnectTimeout, "write-timeout": c.WriteTimeout,
		"heart-beat": c.HeartBeat, "min-heart-beat": c.MinHeartBeat,
	} {
		if d <= 0 {
			return valueError{"--" + name, d.String(), "want a positive duration, such as 15m, 336h or 30s"}
		}
	}
	return nil
}

func (c *config) checkNumbers() error {
	err := positive(map[string]int{
		"max-body-size": c.MaxBodySize, "max-frame-before-connect": c.MaxFrameBeforeConnect,
		"max-headers": c.MaxHeaders, "max-header-line": c.MaxHeaderLine,
		"max-subscriptions": c.MaxSubscriptions, "max-unacked": c.MaxUnacked,
		"max-pending-bytes": c.MaxPendingBytes, "max-queue-length": c.MaxQueueLength,
		"max-queue-bytes": c.MaxQueueBytes, "max-queued-bytes": c.MaxQueuedBytes,
		"max-destinations": c.MaxDestinations,
		"max-transactions": c.MaxTransactions, "max-transaction-frames": c.MaxTransactionFrames,
		"max-transaction-bytes": c.MaxTransactionBytes, "max-tickets-per-login": c.MaxTicketsPerLogin,
		"max-tickets-per-user": c.MaxTicketsPerUser,
	})
	if err != nil {
		return err
	}
	for name, n := range map[string]int{"max-connections": c.MaxConnections, "max-connections-per-addr": c.MaxConnectionsPerAddr} {
		if n < 0 {
			return valueError{"--" + name, strconv.Itoa(n), "want 0 (unlimited) or more"}
		}
	}
	return nil
}

// positive refuses the first setting, named by its flag, whose value is
// not positive.
func positive(settings map[string]int) error {
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		if n := settings[name]; n <= 0 {
			return valueError{"--" + name, strconv.Itoa(n), "want a positive number"}
		}
	}
	return nil
}

// checkAccess parses the settings of who may connect and how.
func (c *config) checkAccess() (err error) {
	if c.proxies, err = broker.ParseTrustedProxies(splitList(c.TrustedProxies)); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.origins, err = auth.ParseOrigins(splitList(c.AllowedOrigins)); err != nil {
		return fmt.Errorf("--allowed-origins: %w", err)
	}
	if c.upgrade, err = auth.ParseUpgradeStrategies(c.UpgradeAuth); err != nil {
		return fmt.Errorf("--upgrade-auth: %w", err)
	}
	return nil
}

// usage prints every setting with its environment variable and default.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `stompd: a STOMP 1.2 broker with JWT authentication.

Usage:
  stompd [flags]                           run the broker
  stompd user add|list|del|passwd|unlock   manage users (stompd user -h)
  stompd version                           print version information

Every flag can also be set by its environment variable or as a key in the
--config TOML file; a flag beats the environment, which beats the file.

`)
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s (%s, default %s)\n      %s\n", f.Name, env, def, f.Usage)
	})
	fmt.Fprintln(w)
}
