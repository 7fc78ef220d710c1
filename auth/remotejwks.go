package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of RemoteJWKSOptions.
const (
	DefaultJWKSRefresh    = 15 * time.Minute
	DefaultJWKSUnknownKID = 5 * time.Second
	DefaultJWKSTimeout    = 10 * time.Second
)

// maxJWKSBytes bounds a JWKS document fetched from an identity provider.
const maxJWKSBytes = 1 << 20

// asymmetricAlgs are the algorithms accepted with keys from a remote JWKS:
// never HMAC, whose key would be a published secret.
var asymmetricAlgs = []string{"EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// RemoteJWKSOptions configure NewRemoteJWKS. Zero values mean the
// documented defaults.
type RemoteJWKSOptions struct {
	// URL is the identity provider's JWKS endpoint: https, or http to a
	// loopback address (tests, development).
	URL string
	// Refresh is how often the keys are fetched again; default 15 min.
	Refresh time.Duration
	// UnknownKID is the least time between two fetches caused by tokens
	// whose kid is not among the keys; default 5 s. Tokens with an
	// unknown kid in between are refused without a fetch, so that forged
	// kids cannot make stompd hammer the identity provider; and it is
	// short, so that a forged kid that just caused a fetch cannot keep out
	// a key its issuer published shortly before signing with it (stompd
	// publishes a rotated key 15 s ahead).
	UnknownKID time.Duration
	// Timeout bounds one fetch; default 10 s.
	Timeout time.Duration
	// OnRefresh is called after every fetch but a failed first one (which
	// NewRemoteJWKS returns), with the number of keys now held and, if the
	// fetch failed, the error that kept them.
	OnRefresh func(keys int, err error)
	Now       func() time.Time
}

// remoteJWKS holds the keys of an identity provider's JWKS. cached reads
// the keys held; refreshing fetches them again when a kid is unknown.
type remoteJWKS struct {
	cached, refreshing keyfunc.Keyfunc
	unknownKID         *rate.Limiter
	now                func() time.Time
}

// NewRemoteJWKS returns verify-only keys fetched from an identity
// provider's JWKS endpoint, fetched again every o.Refresh and when a token
// names an unknown kid (at most once per o.UnknownKID). The first fetch
// happens here: if it fails or yields no usable key, NewRemoteJWKS fails,
// so that no token is ever checked without keys. A failed fetch later keeps
// the keys held. ctx ends the refreshing. Only Ed25519, RSA and ECDSA keys
// whose use, if given, is "sig" are kept; secrets ("oct") never.
func NewRemoteJWKS(ctx context.Context, o RemoteJWKSOptions) (*Keys, error) {
	if err := CheckJWKSURL(o.URL); err != nil {
		return nil, err
	}
	o.defaults()
	ctx, cancel := context.WithCancel(ctx)
	r, err := newRemoteJWKS(ctx, o)
	if err != nil {
		cancel()
		return nil, err
	}
	context.AfterFunc(ctx, cancel) // from now on the caller's ctx ends the refreshing; cancel only failed starts
	return &Keys{remote: r, methods: asymmetricAlgs, jwks: []byte(`{"keys":[]}`)}, nil
}

func (o *RemoteJWKSOptions) defaults() {
	o.Refresh = orDuration(o.Refresh, DefaultJWKSRefresh)
	o.UnknownKID = orDuration(o.UnknownKID, DefaultJWKSUnknownKID)
	o.Timeout = orDuration(o.Timeout, DefaultJWKSTimeout)
	if o.OnRefresh == nil {
		o.OnRefresh = func(int, error) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func newRemoteJWKS(ctx context.Context, o RemoteJWKSOptions) (*remoteJWKS, error) {
	store := &countingStorage{MemoryJWKSet: jwkset.NewMemoryStorage(), onReplace: func(n int) { o.OnRefresh(n, nil) }}
	fetched, err := jwkset.NewStorageFromHTTP(o.URL, jwkset.HTTPClientStorageOptions{
		Client:              jwksClient(o.Timeout),
		Ctx:                 ctx,
		HTTPTimeout:         o.Timeout,
		RefreshInterval:     o.Refresh,
		RefreshErrorHandler: func(_ context.Context, err error) { o.OnRefresh(store.count(), err) },
		Storage:             store,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if store.count() == 0 {
		return nil, errors.New("auth: JWKS: no usable key (Ed25519, RSA or ECDSA for signatures)")
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{o.URL: fetched},
		RateLimitWaitMax:  o.Timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1), // remoteJWKS.unknownKID limits
	})
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	r := &remoteJWKS{unknownKID: rate.NewLimiter(rate.Every(o.UnknownKID), 1), now: o.Now}
	if r.cached, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store}); err != nil {
		return nil, err
	}
	r.refreshing, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	return r, err
}

// keyFunc picks the key for t among those held and, when its kid is
// unknown and the last such fetch is old enough, fetches the JWKS again.
func (r *remoteJWKS) keyFunc(t *jwt.Token) (any, error) {
	key, err := r.cached.Keyfunc(t)
	if errors.Is(err, jwkset.ErrKeyNotFound) && r.unknownKID.AllowN(r.now(), 1) {
		key, err = r.refreshing.Keyfunc(t)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnknownKey, err)
	}
	return key, nil
}

// countingStorage keeps the usable keys of the JWKS and tells of every
// successful fetch, which replaces them all.
type countingStorage struct {
	*jwkset.MemoryJWKSet
	onReplace func(keys int)
}

// KeyReplaceAll replaces the keys held with the usable ones of a fetch:
// Ed25519, RSA and ECDSA keys for signatures; never secrets.
func (s *countingStorage) KeyReplaceAll(ctx context.Context, keys []jwkset.JWK) error {
	usable := slices.DeleteFunc(keys, func(j jwkset.JWK) bool { return !usableJWK(j) })
	err := s.MemoryJWKSet.KeyReplaceAll(ctx, usable)
	s.onReplace(len(usable))
	return err
}

// usableJWK reports whether j is a public (or private) Ed25519, RSA or
// ECDSA key whose use, if given, is "sig".
func usableJWK(j jwkset.JWK) bool {
	if u := j.Marshal().USE; u != "" && u != jwkset.UseSig {
		return false
	}
	key := j.Key()
	if priv, ok := key.(crypto.Signer); ok {
		key = priv.Public()
	}
	switch key.(type) {
	case ed25519.PublicKey, *rsa.PublicKey, *ecdsa.PublicKey:
		return true
	}
	return false
}

func (s *countingStorage) count() int {
	keys, _ := s.KeyReadAll(context.Background())
	return len(keys)
}

// jwksClient is the HTTP client of JWKS fetches: each bounded in time and
// size, redirects followed only to URLs that CheckJWKSURL accepts.
func jwksClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: limitedTransport{http.DefaultTransport},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return CheckJWKSURL(req.URL.String())
		},
	}
}

// limitedTransport cuts response bodies beyond maxJWKSBytes.
type limitedTransport struct{ http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err == nil {
		resp.Body = http.MaxBytesReader(nil, resp.Body, maxJWKSBytes)
	}
	return resp, err
}

// CheckJWKSURL accepts an https URL, or an http URL whose host is a
// loopback address (localhost, 127.0.0.0/8, ::1): keys fetched in clear
// text over a network could be anyone's.
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("JWKS URL %q: want an absolute URL such as https://idp.example.com/.well-known/jwks.json", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("JWKS URL %q: want https:// (http:// only to a loopback address)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
