package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth/edge"
	"github.com/stompd/stompd/metrics"
)

// Default lifetimes and sizes.
const (
	DefaultIssuer     = "stompd"
	DefaultAudience   = "stompd"
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 14 * 24 * time.Hour
	DefaultTicketTTL  = 30 * time.Second
	DefaultLeeway     = 5 * time.Second
	DefaultCacheSize  = 10_000
)

// Options configure a Service. Zero values mean the documented defaults.
type Options struct {
	// Keys sign and verify access tokens (required). Verify-only keys
	// disable login and refresh.
	Keys *Keys
	// Store keeps users, refresh tokens, denials and keys (see Store). It
	// is required when Keys can sign; without it, denials live in memory
	// only. When it is also a TicketStore or a LoginThrottle, tickets or
	// login throttle counts are kept there (shared by the nodes that use
	// it); otherwise in this process's memory. When it is also a
	// ClientStore, it keeps service accounts, and /auth/token serves them.
	Store Store

	// Issuer and Audience are the iss and aud of issued tokens and the
	// values required of verified ones. Default "stompd".
	Issuer, Audience string
	// AccessTTL, RefreshTTL and TicketTTL default to 15 min, 14 days and
	// 30 s. Leeway (default 5 s) forgives iat and nbf a little ahead.
	AccessTTL, RefreshTTL, TicketTTL, Leeway time.Duration
	// KeyPublishDelay is how long after a rotation (RotateKey) the new
	// signing key starts signing, while every node already publishes it;
	// default DefaultKeyPublishDelay.
	KeyPublishDelay time.Duration

	// Rules authorise SEND and SUBSCRIBE; nil means DefaultRules().
	Rules []Rule
	// Origins is the browser allow-list for CORS and the WebSocket
	// upgrade; nil allows same-origin only.
	Origins *edge.Origins
	// Scheme returns the scheme ("http" or "https") the client used for r,
	// which same-origin compares; default https over TLS, http otherwise.
	// Behind a proxy that ends TLS, set it to one that believes
	// X-Forwarded-Proto from trusted proxies only.
	Scheme func(r *http.Request) string
	// Upgrade enables upgrade strategies beyond the ticket; zero: tickets
	// only.
	Upgrade UpgradeStrategy

	// Login throttling: failed logins allowed within ThrottleWindow
	// (default 15 min) per account from one client address (default 5),
	// per client address (default 30) and per account from all addresses
	// together (default 50). A pair, address or account at its limit is
	// refused until enough of its failures are older than the window.
	AccountAddressFailures, AddressFailures, AccountFailures int
	ThrottleWindow                                           time.Duration
	// MaxPasswordChecks bounds the password checks (bcrypt) that run at
	// once, default twice GOMAXPROCS; one client address may hold half of
	// them (at least one). A login that finds none free within its
	// address's share waits up to 5 s, then is answered 429
	// login_busy.
	MaxPasswordChecks int
	// ClientAddress returns the address a login is throttled under;
	// default: the host of r.RemoteAddr. Set it when behind a proxy that
	// you trust to set a header.
	ClientAddress func(r *http.Request) string
	// BcryptCost is the cost of the dummy hash compared for unknown emails;
	// it should be the cost user hashes are made with. Default
	// bcrypt.DefaultCost.
	BcryptCost int
	// checkPassword compares a password with its hash; default
	// bcrypt.CompareHashAndPassword. Tests count and hold the checks.
	checkPassword func(hash, password []byte) error

	// MaxTicketsPerLogin bounds the outstanding tickets of one login (one
	// sid), default 32, and MaxTicketsPerUser those of one user (one sub)
	// across all its logins, default 128. Past either /auth/ticket answers
	// 429 too_many_tickets until one is used or expires.
	MaxTicketsPerLogin, MaxTicketsPerUser int

	// CacheSize bounds the verified-token cache; default 10,000, negative
	// disables it.
	CacheSize int
	// OnLogout is called with the sid of every login that ends (logout, or
	// refresh-token reuse), after it is denied, so the broker can close its
	// sessions; for a token that ends alone (one without a sid, issued
	// elsewhere, or a service account's), with its jti, and the broker
	// closes the sessions that hold that token. It must not block for long.
	OnLogout func(sid string)

	Metrics *metrics.Set // default: a set on a private registry
	Logger  *slog.Logger // default: slog.Default()
	Now     func() time.Time
}

// Service is stompd's authentication: it issues and verifies tokens,
// tickets and refresh tokens, serves the /auth/* API, and authorises STOMP
// frames. It is safe for concurrent use.
type Service struct {
	opts     Options
	keys     *Keys
	parser   *jwt.Parser
	rules    rules
	cache    *tokenCache
	denied   *denyList
	tickets  TicketStore
	throttle LoginThrottle
	checks   *checkSlots
	clients  ClientStore // nil: no service accounts

	// dummySecretHash is compared with the secret of an unknown client.
	dummySecretHash [32]byte

	ticketLimits   TicketLimits
	throttleLimits ThrottleLimits
	dummyHash      []byte
	metrics        authMetrics
}

// New returns a Service, loading the denial list from opts.Store.
func New(opts Options) (*Service, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rs, err := compileRules(opts.Rules)
	if err != nil {
		return nil, err
	}
	denied, err := newDenyList(opts.Store)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts:     opts,
		keys:     opts.Keys,
		parser:   newParser(&opts, opts.Keys.methods),
		rules:    rs,
		cache:    newTokenCache(opts.CacheSize),
		denied:   denied,
		tickets:  sharedOr[TicketStore](opts.Store, newTicketStore()),
		throttle: sharedOr[LoginThrottle](opts.Store, newThrottle(opts.Now())),
		checks:   newCheckSlots(opts.MaxPasswordChecks),
		clients:  sharedOr[ClientStore](opts.Store, nil),
		metrics:  newAuthMetrics(opts.Metrics),
		ticketLimits: TicketLimits{
			Total:    maxTickets,
			PerLogin: opts.MaxTicketsPerLogin,
			PerUser:  opts.MaxTicketsPerUser,
		},
		throttleLimits: ThrottleLimits{
			Pair:    opts.AccountAddressFailures,
			Address: opts.AddressFailures,
			Account: opts.AccountFailures,
			Window:  opts.ThrottleWindow,
		},
	}
	s.dummySecretHash = hashToken(randomToken(opaqueBytes))
	if r := opts.Keys.ring; r != nil {
		opts.Metrics.SigningKeys.Set(float64(len(r.cur.Load().kids)))
	}
	if s.canIssue() {
		if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomToken(18)), opts.BcryptCost); err != nil {
			return nil, fmt.Errorf("auth: dummy hash: %w", err)
		}
	}
	return s, nil
}

// sharedOr returns store as a T when it is one, so that the state is
// shared by every node on it, and else mem, this process's own.
func sharedOr[T any](store Store, mem T) T {
	if shared, ok := store.(T); ok {
		return shared
	}
	return mem
}

func (o *Options) defaults() error {
	if o.Keys == nil {
		return errors.New("auth: Options.Keys is required")
	}
	if o.Keys.CanSign() && o.Store == nil {
		return errors.New("auth: Options.Store is required with signing keys")
	}
	o.Issuer = orString(o.Issuer, DefaultIssuer)
	o.Audience = orString(o.Audience, DefaultAudience)
	o.AccessTTL = orDuration(o.AccessTTL, DefaultAccessTTL)
	o.RefreshTTL = orDuration(o.RefreshTTL, DefaultRefreshTTL)
	o.TicketTTL = orDuration(o.TicketTTL, DefaultTicketTTL)
	o.Leeway = orDuration(o.Leeway, DefaultLeeway)
	o.KeyPublishDelay = orDuration(o.KeyPublishDelay, DefaultKeyPublishDelay)
	o.ThrottleWindow = orDuration(o.ThrottleWindow, DefaultThrottleWindow)
	o.AccountAddressFailures = orPositive(o.AccountAddressFailures, DefaultAccountAddressFailures)
	o.AddressFailures = orPositive(o.AddressFailures, DefaultAddressFailures)
	o.AccountFailures = orPositive(o.AccountFailures, DefaultAccountFailures)
	o.MaxTicketsPerLogin = orPositive(o.MaxTicketsPerLogin, DefaultMaxTicketsPerLogin)
	o.MaxTicketsPerUser = orPositive(o.MaxTicketsPerUser, DefaultMaxTicketsPerUser)
	o.MaxPasswordChecks = orPositive(o.MaxPasswordChecks, 2*runtime.GOMAXPROCS(0))
	o.CacheSize = orInt(o.CacheSize, DefaultCacheSize)
	o.BcryptCost = orInt(o.BcryptCost, bcrypt.DefaultCost)
	if o.Rules == nil {
		o.Rules = DefaultRules()
	}
	if o.checkPassword == nil {
		o.checkPassword = bcrypt.CompareHashAndPassword
	}
	if o.ClientAddress == nil {
		o.ClientAddress = edge.TrustedProxies{}.ClientAddress
	}
	if o.Scheme == nil {
		o.Scheme = edge.TrustedProxies{}.Scheme
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orPositive(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Service) now() time.Time { return s.opts.Now() }

// canIssue reports whether this Service issues tokens (login, refresh).
func (s *Service) canIssue() bool { return s.keys.CanSign() }

// IssuesTokens reports whether this Service issues tokens: false in
// verify-only mode, where another application does.
func (s *Service) IssuesTokens() bool { return s.canIssue() }

// AccessTTL returns the configured access-token lifetime.
func (s *Service) AccessTTL() time.Duration { return s.opts.AccessTTL }

// Keys returns the keys the Service signs and verifies with.
func (s *Service) Keys() *Keys { return s.keys }
