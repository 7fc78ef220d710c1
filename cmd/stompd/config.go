package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/edge"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/stomp"
)

// config is every setting of the server. Each is a flag, an environment
// variable and a key of the config file, with precedence flag >
// environment > file > default. The settings of the broker and of auth are
// bound straight into their options.
type config struct {
	sharedSettings
	from           setFrom // where the user set what it set, once parsed
	HTTPAddr       string
	STOMPAddr      string
	Demo           bool
	AllowedOrigins string
	LogFormat      string
	LogLevel       string
	TLSCert        string
	TLSKey         string
	PprofAddr      string
	MetricsAddr    string
	TrustedProxies string
	UpgradeAuth    string
	HS256File      string
	PublicKeyFile  string
	JWKSFile       string
	JWKSURL        string
	JWKSRefresh    time.Duration

	HTTPReadTimeout  time.Duration
	HTTPWriteTimeout time.Duration
	HTTPIdleTimeout  time.Duration
	HeaderTimeout    time.Duration
	SweepInterval    time.Duration
	ShutdownGrace    time.Duration

	// Broker and Auth hold their settings; check adds what it parsed
	// (the proxies' client address and scheme, the origins, the upgrade
	// strategies), and the server what no setting gives (hooks, stores,
	// the logger and metrics).
	Broker broker.Options
	Auth   auth.Options

	// What check parsed besides: the proxies and the log level.
	proxies  edge.TrustedProxies
	logLevel slog.Level
}

// sharedSettings are the settings the user commands read as the server
// does: from a flag, the environment or the config file.
type sharedSettings struct {
	DataDir           string
	ConfigFile        string
	MinPasswordLength int
	Redis             string
}

// declare declares the shared settings on fs.
func (s *sharedSettings) declare(fs *flag.FlagSet) {
	fs.StringVar(&s.DataDir, "data", "./data", "data directory: the store file and the signing key live here")
	fs.StringVar(&s.ConfigFile, configFlag, "", "TOML config file; keys are these flag names, plus [[rules]] tables")
	fs.IntVar(&s.MinPasswordLength, "min-password-length", 8, "fewest characters of a password that stompd user and the admin API set")
	fs.StringVar(&s.Redis, "redis", "", "Redis URL shared by the nodes of a cluster: redis://[user:pass@]host:port[/db], rediss:// for TLS, "+
		"a Redis Cluster by several seeds as redis://h1:p1?addr=h2:p2&addr=h3:p3; empty: one node on the data dir's store")
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
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address: auth API, WebSocket at /ws, health, and /metrics unless --metrics moves it; cannot be empty")
	fs.StringVar(&c.STOMPAddr, "stomp", "127.0.0.1:61613", "STOMP over TCP listen address; empty disables it")
	fs.BoolVar(&c.Demo, "demo", false, "create demo users and serve the demo chat page at /")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated origins (https://app.example.com:3000) allowed to upgrade and call /auth; same-origin is always allowed; * allows any")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM) for both listeners; needs --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM) for both listeners")
	fs.StringVar(&c.PprofAddr, "pprof", "", "serve net/http/pprof on this separate address; empty disables it")
	fs.StringVar(&c.MetricsAddr, "metrics", "", "serve /metrics on this separate address instead of on --http, such as 127.0.0.1:9090 "+
		"or a private interface's, so that the public listener exposes no metrics; --pprof set to the same address shares it; empty serves /metrics on --http")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated IPs or CIDR ranges (127.0.0.1/32,10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the client for login throttling, per-address connection limits, logs and the admin API's session list (and whose X-Forwarded-Proto says whether it came over TLS); empty trusts none")

	fs.DurationVar(&c.Auth.AccessTTL, "access-ttl", auth.DefaultAccessTTL, "access token lifetime; at least 2s, since a token's expiry counts whole seconds")
	fs.DurationVar(&c.Auth.RefreshTTL, "refresh-ttl", auth.DefaultRefreshTTL, "refresh token lifetime; at or below --access-ttl a login cannot be renewed in effect, and its user logs in again when the access token expires")
	fs.DurationVar(&c.Auth.TicketTTL, "ticket-ttl", auth.DefaultTicketTTL, "WebSocket upgrade ticket lifetime (never beyond its access token)")
	fs.StringVar(&c.Auth.Issuer, "issuer", auth.DefaultIssuer, "iss claim issued and required; cannot be empty")
	fs.StringVar(&c.Auth.Audience, "audience", auth.DefaultAudience, "aud claim issued and required; cannot be empty")
	fs.StringVar(&c.HS256File, "jwt-hs256-secret-file", "", "sign and verify access tokens with HS256 and the secret in this file instead of Ed25519")
	fs.StringVar(&c.PublicKeyFile, "jwt-public-key", "", "verify-only: accept access tokens signed by this PEM public key; login and refresh are disabled")
	fs.StringVar(&c.JWKSFile, "jwks-file", "", "verify-only: accept access tokens signed by the keys in this JWKS file; login and refresh are disabled")
	fs.StringVar(&c.JWKSURL, "jwks-url", "", "verify-only: accept access tokens signed by the keys of an identity provider's JWKS endpoint, https:// (http:// only to a loopback address, "+
		"for tests and development); fetched at start (a failure stops the start), every --jwks-refresh, and on a token with an unknown kid at most once per 5s; login and refresh are disabled")
	fs.DurationVar(&c.JWKSRefresh, "jwks-refresh", auth.DefaultJWKSRefresh, "how often the keys of --jwks-url are fetched again; a failed fetch keeps the keys held")
	fs.StringVar(&c.UpgradeAuth, "upgrade-auth", "ticket", "how a WebSocket upgrade may authenticate, a comma-separated list of "+
		strings.Join(auth.UpgradeStrategyNames(), ", ")+": ticket (always on) is ?ticket=<ticket>, query also takes ?access_token=<token>, "+
		"protocol a bearer.<token> entry of Sec-WebSocket-Protocol, and anonymous lets an upgrade without credentials through (its CONNECT must bring the token)")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", time.Minute, "how often expired refresh tokens and denials are deleted")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long a graceful shutdown may take before connections are cut")
	fs.DurationVar(&c.HeaderTimeout, "http-header-timeout", 5*time.Second, "time allowed to read an HTTP request's headers")
	fs.DurationVar(&c.HTTPReadTimeout, "http-read-timeout", 30*time.Second, "time allowed to read a whole HTTP request, body included; WebSocket connections are not bound by it")
	fs.DurationVar(&c.HTTPWriteTimeout, "http-write-timeout", time.Minute, "time allowed from the end of an HTTP request's headers to the end of its answer; WebSocket connections are not bound by it")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle HTTP keep-alive connection is kept open")
	fs.IntVar(&c.Auth.MaxTicketsPerLogin, "max-tickets-per-login", auth.DefaultMaxTicketsPerLogin, "most unused WebSocket tickets one login may hold; past it /auth/ticket answers 429 until one is used or expires")
	fs.IntVar(&c.Auth.MaxTicketsPerUser, "max-tickets-per-user", auth.DefaultMaxTicketsPerUser, "most unused WebSocket tickets one user may hold across all its logins; past it /auth/ticket answers 429 until one is used or expires")
	declareBrokerSettings(fs, &c.Broker)
	fs.Usage = func() { usage(fs) }
	return fs
}

// declareBrokerSettings declares the broker's settings on fs, writing into o.
func declareBrokerSettings(fs *flag.FlagSet, o *broker.Options) {
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", broker.DefaultConnectTimeout, "time from accept or upgrade to CONNECT")
	fs.IntVar(&o.MaxBodySize, "max-body-size", stomp.DefaultMaxBodySize, "largest frame body in bytes")
	fs.IntVar(&o.MaxFrameSize, "max-frame-before-connect", broker.DefaultMaxFrameSizeBeforeConnect, "largest frame in bytes before CONNECT succeeds")
	fs.IntVar(&o.MaxHeaders, "max-headers", stomp.DefaultMaxHeaders, "most headers in one frame")
	fs.IntVar(&o.MaxHeaderLine, "max-header-line", stomp.DefaultMaxHeaderLine, "longest header line in bytes; at least 1024, since a CONNECT carries the access token in one header line")
	fs.IntVar(&o.MaxSubscriptions, "max-subscriptions", broker.DefaultMaxSubscriptions, "most subscriptions per connection")
	fs.IntVar(&o.MaxUnacked, "max-unacked", broker.DefaultMaxUnacked, "most unacknowledged messages per subscription without prefetch-count")
	fs.IntVar(&o.MaxPendingBytes, "max-pending-bytes", broker.DefaultMaxPendingBytes, "outbound bytes a connection may have pending before it is cut as a slow consumer")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", broker.DefaultWriteTimeout, "write deadline per batch of frames")
	fs.DurationVar(&o.FrameTimeout, "frame-timeout", broker.DefaultFrameTimeout, "time a client may take from a frame's first byte to its last; past it the client gets an ERROR (limit-exceeded) and is cut off")
	fs.IntVar(&o.MaxPartialBytes, "max-partial-bytes", broker.DefaultMaxPartialBytes, "heap bytes that half-received frames (beyond their first 64 KiB) and the frames of open transactions hold on all connections together; a connection whose frame or transaction would pass it gets an ERROR (limit-exceeded) and is cut off")
	fs.DurationVar(&o.HeartBeat, "heart-beat", broker.DefaultHeartBeat, "heart-beat interval the server offers; at least --min-heart-beat")
	fs.DurationVar(&o.MinHeartBeat, "min-heart-beat", broker.DefaultMinHeartBeat, "shortest heart-beat interval the server accepts")
	fs.IntVar(&o.MaxQueueLength, "max-queue-length", broker.DefaultMaxQueueLength, "messages buffered per queue")
	fs.IntVar(&o.MaxQueueBytes, "max-queue-bytes", broker.DefaultMaxQueueBytes, "memory in bytes a queue's buffered messages may take; with --redis, the bytes a queue's messages take in Redis, across nodes")
	fs.IntVar(&o.MaxQueuedBytes, "max-queued-bytes", broker.DefaultMaxQueuedBytes, "memory in bytes all queues and their buffered messages may take together; with --redis, what this node holds of the queues (deliveries awaiting ACK), not what Redis holds")
	fs.IntVar(&o.MaxQueuesPerUser, "max-queues-per-user", broker.DefaultMaxQueuesPerUser, "most queues one user's SENDs and SUBSCRIBEs made that exist at once, on one node (with --redis also the queues its SENDs made in Redis, cluster-wide), so that no user can fill --max-destinations with queues; beyond it that user's SEND or SUBSCRIBE to a new queue is refused")
	fs.IntVar(&o.MaxDestinations, "max-destinations", broker.DefaultMaxDestinations, "most topics, queues and user destinations at once; a SEND or SUBSCRIBE that would create one more evicts the topic without subscribers kept only by its history that was least recently active, or is refused when there is none")
	fs.IntVar(&o.MaxTransactions, "max-transactions", broker.DefaultMaxTransactions, "open transactions per connection")
	fs.IntVar(&o.MaxTransactionFrames, "max-transaction-frames", broker.DefaultMaxTransactionFrames, "SEND, ACK and NACK frames per transaction")
	fs.IntVar(&o.MaxTransactionBytes, "max-transaction-bytes", broker.DefaultMaxTransactionBytes, "bytes a connection's open transactions may hold until COMMIT")
	fs.IntVar(&o.MaxConnections, "max-connections", 0, "most open connections; 0 is unlimited")
	fs.IntVar(&o.MaxConnectionsPerAddr, "max-connections-per-addr", 0, "most open connections per client address; 0 is unlimited")
	fs.IntVar(&o.HistorySize, "history-size", defaultHistorySize, "messages each /topic/ destination keeps for subscribers that resume (x-stream-offset); 0 disables topic history")
	fs.DurationVar(&o.HistoryTTL, "history-ttl", broker.DefaultHistoryTTL, "longest a topic keeps a message in its history")
	fs.IntVar(&o.MaxHistoryBytes, "max-history-bytes", broker.DefaultMaxHistoryBytes, "memory in bytes a topic's history may take; the oldest messages go first")
	fs.IntVar(&o.MaxHistoryTotalBytes, "max-history-total-bytes", broker.DefaultMaxHistoryTotalBytes, "memory in bytes all topics' histories may take together; beyond it a topic that takes a message lets its own oldest go")
}

// Topic history: the default size, and the bounds beyond which a setting
// is a mistake rather than a choice.
const (
	defaultHistorySize = 100
	maxHistorySize     = 1_000_000
	maxHistoryTTL      = 30 * 24 * time.Hour
)

// checkHistory refuses a negative or absurd --history-size or
// --history-ttl.
func (c *config) checkHistory() error {
	b := &c.Broker
	switch {
	case b.HistorySize < 0 || b.HistorySize > maxHistorySize:
		return valueError{"--history-size", strconv.Itoa(b.HistorySize), fmt.Sprintf("want 0 (no history) to %d messages", maxHistorySize)}
	case b.HistoryTTL > maxHistoryTTL:
		return valueError{"--history-ttl", b.HistoryTTL.String(), "want at most 720h (30 days), such as 5m"}
	}
	return nil
}

// parseConfig reads the settings from args, the environment and the config
// file, in that order of precedence, and checks them. It prints the help
// to out when args ask for it.
func parseConfig(args []string, out io.Writer) (*config, error) {
	c := new(config)
	fs := newFlagSet(c, out)
	set := setFrom{}
	err := parseSettings(fs, args, settingSources{hint: settingsHint, set: set})
	if errors.Is(err, flag.ErrHelp) {
		usage(fs)
	}
	if err != nil {
		return nil, err
	}
	return c, c.check(set)
}

// check rejects values no server can run with, in one line that names the
// setting, as set tells the user set it, and what it takes.
func (c *config) check(set setFrom) error {
	c.from = set
	for _, check := range []func() error{c.sharedSettings.check, c.checkChoices, c.checkAddresses, c.checkDurations, c.checkNumbers, c.checkTokens, c.checkFrames, c.checkHistory, c.checkAccess, c.checkRedis} {
		if err := check(); err != nil {
			return usageError{set.spelled(err)}
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
	}
	return c.checkKeySource()
}

// checkKeySource refuses more than one source of token keys, and a
// --jwks-url that is neither https nor http to a loopback address.
func (c *config) checkKeySource() error {
	var set []string
	for _, k := range c.keySources() {
		if k.value != "" {
			set = append(set, "--"+k.flag)
		}
	}
	if n := len(set); n > 1 {
		return fmt.Errorf("%s and %s exclude each other: set one", strings.Join(set[:n-1], ", "), set[n-1])
	}
	if c.JWKSURL != "" && auth.CheckJWKSURL(c.JWKSURL) != nil {
		return valueError{"--jwks-url", c.JWKSURL, "want https://, or http:// to a loopback address (127.0.0.1, ::1, localhost) for tests and development"}
	}
	return nil
}

// keySource is a setting naming where token keys come from.
type keySource struct{ flag, value string }

// keySources lists the settings that choose the token keys, of which one
// at most may be set; none means the Ed25519 key kept in the store.
func (c *config) keySources() []keySource {
	return []keySource{
		{"jwt-public-key", c.PublicKeyFile}, {"jwks-file", c.JWKSFile},
		{"jwks-url", c.JWKSURL}, {"jwt-hs256-secret-file", c.HS256File},
	}
}

// checkAddresses refuses an empty --http, which would listen on every
// interface: HTTP serves the auth API and cannot be off, unlike --stomp,
// --pprof and --metrics, which an empty value disables (--metrics then
// leaves /metrics on --http). It also refuses a listen address without a
// port, which would listen on a random one.
func (c *config) checkAddresses() error {
	if c.HTTPAddr == "" {
		return valueError{"--http", "", "HTTP serves login and the WebSocket endpoint and cannot be off: give host:port, such as 127.0.0.1:8080"}
	}
	for _, a := range [...]struct{ name, addr string }{{"http", c.HTTPAddr}, {"stomp", c.STOMPAddr}, {"pprof", c.PprofAddr}, {"metrics", c.MetricsAddr}} {
		if _, port, err := net.SplitHostPort(a.addr); a.addr != "" && (err != nil || port == "") {
			return valueError{"--" + a.name, a.addr, "want host:port, such as 127.0.0.1:8080 (port 0 picks a free one)"}
		}
	}
	return nil
}

func (c *config) checkDurations() error {
	b := &c.Broker
	for name, d := range map[string]time.Duration{
		"access-ttl": c.Auth.AccessTTL, "refresh-ttl": c.Auth.RefreshTTL, "ticket-ttl": c.Auth.TicketTTL,
		"sweep-interval": c.SweepInterval, "shutdown-grace": c.ShutdownGrace,
		"http-header-timeout": c.HeaderTimeout, "http-read-timeout": c.HTTPReadTimeout,
		"http-write-timeout": c.HTTPWriteTimeout, "http-idle-timeout": c.HTTPIdleTimeout,
		"connect-timeout": b.ConnectTimeout, "write-timeout": b.WriteTimeout, "frame-timeout": b.FrameTimeout,
		"heart-beat": b.HeartBeat, "min-heart-beat": b.MinHeartBeat, "history-ttl": b.HistoryTTL,
		"jwks-refresh": c.JWKSRefresh,
	} {
		if d <= 0 {
			return valueError{"--" + name, d.String(), "want a positive duration, such as 15m, 336h or 30s"}
		}
	}
	return nil
}

func (c *config) checkNumbers() error {
	b := &c.Broker
	err := positive(map[string]int{
		"max-body-size": b.MaxBodySize, "max-frame-before-connect": b.MaxFrameSize,
		"max-headers": b.MaxHeaders, "max-header-line": b.MaxHeaderLine,
		"max-subscriptions": b.MaxSubscriptions, "max-unacked": b.MaxUnacked,
		"max-pending-bytes": b.MaxPendingBytes, "max-queue-length": b.MaxQueueLength,
		"max-queue-bytes": b.MaxQueueBytes, "max-queued-bytes": b.MaxQueuedBytes,
		"max-destinations": b.MaxDestinations, "max-queues-per-user": b.MaxQueuesPerUser, "max-partial-bytes": b.MaxPartialBytes, "max-history-bytes": b.MaxHistoryBytes,
		"max-history-total-bytes": b.MaxHistoryTotalBytes,
		"max-transactions":        b.MaxTransactions, "max-transaction-frames": b.MaxTransactionFrames,
		"max-transaction-bytes": b.MaxTransactionBytes, "max-tickets-per-login": c.Auth.MaxTicketsPerLogin,
		"max-tickets-per-user": c.Auth.MaxTicketsPerUser,
	})
	if err != nil {
		return err
	}
	for name, n := range map[string]int{"max-connections": b.MaxConnections, "max-connections-per-addr": b.MaxConnectionsPerAddr} {
		if n < 0 {
			return valueError{"--" + name, strconv.Itoa(n), "want 0 (unlimited) or more"}
		}
	}
	return nil
}

// Lower bounds of settings that are positive yet cannot work below them.
const (
	// minAccessTTL is 2s: a token's expiry counts whole seconds (RFC 7519
	// NumericDate, rounded down), so a lifetime L gives a token more than
	// L-1s, and a shorter one may give tokens expired at their first use.
	minAccessTTL = 2 * time.Second
	// minHeaderLine is 1 KiB: a CONNECT carries the access token in one
	// header line (Authorization or passcode), and a token takes several
	// hundred bytes.
	minHeaderLine = 1 << 10
)

// checkTokens refuses token settings that no client can work with: an
// access token expired when issued, and an empty issuer or audience, which
// auth would replace by its default. A --refresh-ttl up to --access-ttl is
// taken: it turns renewal off in effect, and the e2e test uses it to have a
// refresh token expire while its login's sessions live.
func (c *config) checkTokens() error {
	a := &c.Auth
	switch {
	case a.AccessTTL < minAccessTTL:
		return valueError{"--access-ttl", a.AccessTTL.String(), "want at least 2s, since a token's expiry counts whole seconds, such as 15m"}
	case a.Issuer == "":
		return valueError{"--issuer", "", "want the name the iss claim carries, such as stompd"}
	case a.Audience == "":
		return valueError{"--audience", "", "want the name the aud claim carries, such as stompd"}
	}
	return nil
}

// checkFrames refuses a heart-beat the server would not accept from a
// client, named as the one of the two the user set; a header line or a
// frame before CONNECT too short for a CONNECT's token; and a budget of
// unfinished frames that one whole frame or transaction would pass.
func (c *config) checkFrames() error {
	b := &c.Broker
	switch {
	case b.HeartBeat < b.MinHeartBeat && c.from.has("min-heart-beat") && !c.from.has("heart-beat"):
		return valueError{"--min-heart-beat", b.MinHeartBeat.String(), fmt.Sprintf("want at most --heart-beat (%s), the interval the server offers; raise it too", b.HeartBeat)}
	case b.HeartBeat < b.MinHeartBeat:
		return valueError{"--heart-beat", b.HeartBeat.String(), fmt.Sprintf("want at least --min-heart-beat (%s), the shortest interval the server accepts", b.MinHeartBeat)}
	case b.MaxFrameSize < minHeaderLine:
		return valueError{"--max-frame-before-connect", strconv.Itoa(b.MaxFrameSize), fmt.Sprintf("want at least %d bytes: a CONNECT carries the access token", minHeaderLine)}
	case b.MaxPartialBytes < max(2*b.MaxBodySize, b.MaxTransactionBytes):
		return valueError{"--max-partial-bytes", strconv.Itoa(b.MaxPartialBytes), fmt.Sprintf("want at least %d: twice --max-body-size, for one frame of it spread over reads, and --max-transaction-bytes", max(2*b.MaxBodySize, b.MaxTransactionBytes))}
	case b.MaxHeaderLine < minHeaderLine:
		return valueError{"--max-header-line", strconv.Itoa(b.MaxHeaderLine), fmt.Sprintf("want at least %d bytes: a CONNECT carries the access token in one header line", minHeaderLine)}
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

// checkAccess parses the settings of who may connect and how, into the
// options that use them.
func (c *config) checkAccess() (err error) {
	if c.proxies, err = edge.ParseTrustedProxies(splitList(c.TrustedProxies)); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	c.Broker.ClientAddress = c.proxies.ClientAddress
	c.Broker.ClientTLS = func(r *http.Request) bool { return c.proxies.Scheme(r) == "https" }
	c.Auth.ClientAddress, c.Auth.Scheme = c.proxies.ClientAddress, c.proxies.Scheme
	if c.Auth.Origins, err = edge.ParseOrigins(splitList(c.AllowedOrigins)); err != nil {
		return fmt.Errorf("--allowed-origins: %w", err)
	}
	if c.Auth.Upgrade, err = auth.ParseUpgradeStrategies(c.UpgradeAuth); err != nil {
		return fmt.Errorf("--upgrade-auth: %w", err)
	}
	return nil
}

// checkRedis refuses a --redis value that is not a Redis URL, before
// anything is opened.
func (c *config) checkRedis() error {
	if c.Redis == "" {
		return nil
	}
	_, err := redisOptions(c.Redis)
	return err
}

// usage prints every setting with its environment variable and default.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `stompd: a STOMP 1.2 broker with JWT authentication.

Usage:
  stompd [flags]                           run the broker
  stompd user add|list|passwd|roles|...    manage users, live or offline (stompd user -h)
  stompd client add|list|del|unlock        manage service accounts (stompd client -h)
  stompd key list|rotate                   list or rotate the signing keys (stompd key -h)
  stompd backup --data DIR --out FILE      copy the store, also while running
  stompd health                            exit 0 if the server is ready (stompd health -h)
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
