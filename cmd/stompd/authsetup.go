package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/metrics"
)

// newAuth builds the auth service from the configuration: its keys, rules,
// origins and upgrade strategies, on top of the store.
// Keys fetched from --jwks-url are kept fresh until ctx is done.
func newAuth(ctx context.Context, c *config, store auth.Store, m *metrics.Set, log *slog.Logger, onLogout func(sid string)) (*auth.Service, error) {
	keys, err := loadKeys(ctx, c, store, m, log)
	if err != nil {
		return nil, err
	}
	if c.Auth.Origins.AllowsAny() {
		log.Warn("allowed-origins is *: any web page may open WebSockets and call /auth with its users' cookies")
	}
	if c.proxies.TrustsAny() {
		log.Warn("trusted-proxies holds every address: any client may choose the address it is throttled and counted under")
	}
	o := c.Auth
	if c.Demo && o.AccessTTL > demoAccessTTL {
		o.AccessTTL = demoAccessTTL
	}
	if o.RefreshTTL <= o.AccessTTL {
		log.Warn("refresh-ttl is not longer than access-ttl: a login cannot be renewed, and its user logs in again when its access token expires",
			"refresh_ttl", o.RefreshTTL, "access_ttl", o.AccessTTL)
	}
	if o.Rules, err = loadRules(c.ConfigFile); err != nil {
		return nil, err
	}
	o.Keys, o.Store = keys, store
	o.OnLogout, o.Metrics, o.Logger = onLogout, m, log
	o.KeyPublishDelay = keyPublishDelay
	return auth.New(o)
}

// loadKeys picks the token keys: verify-only from a public key or JWKS
// file or an identity provider's JWKS URL, HS256 from a secret file, or by
// default the Ed25519 key kept in the store (generated on first start).
func loadKeys(ctx context.Context, c *config, store auth.KeyStore, m *metrics.Set, log *slog.Logger) (*auth.Keys, error) {
	if c.JWKSURL != "" {
		return remoteKeys(ctx, c, m, log)
	}
	for _, k := range []struct {
		flag, file string
		parse      func([]byte) (*auth.Keys, error)
	}{
		{"jwt-public-key", c.PublicKeyFile, auth.ParsePublicKeyPEM},
		{"jwks-file", c.JWKSFile, auth.ParseJWKS},
		{"jwt-hs256-secret-file", c.HS256File, auth.NewHS256Keys},
	} {
		if k.file == "" {
			continue
		}
		b, err := os.ReadFile(k.file)
		if err != nil {
			return nil, fileError(k.flag, k.file, err)
		}
		keys, err := k.parse(b)
		if err != nil {
			return nil, fileError(k.flag, k.file, err)
		}
		return keys, nil
	}
	return auth.LoadEd25519Keys(store)
}

// remoteKeys fetches the keys of --jwks-url and keeps them fresh until ctx
// is done, counting every fetch and logging a failed one. The start fails
// when the first fetch does: no token is ever checked without keys, and a
// wrong URL is said at once rather than behind /readyz.
func remoteKeys(ctx context.Context, c *config, m *metrics.Set, log *slog.Logger) (*auth.Keys, error) {
	keys, err := auth.NewRemoteJWKS(ctx, auth.RemoteJWKSOptions{
		URL:     c.JWKSURL,
		Refresh: c.JWKSRefresh,
		OnRefresh: func(n int, err error) {
			m.JWKSKeys.Set(float64(n))
			if err != nil {
				m.JWKSRefreshes.WithLabelValues(metrics.JWKSRefreshFailed).Inc()
				log.Warn("JWKS refresh failed: the keys held are kept", "url", redactURL(c.JWKSURL), "keys", n, "err", err)
				return
			}
			m.JWKSRefreshes.WithLabelValues(metrics.JWKSRefreshOK).Inc()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("--jwks-url %s: %w", redactURL(c.JWKSURL), err)
	}
	return keys, nil
}

// loadRules reads the [[rules]] tables of the config file; none means the
// default rules.
func loadRules(file string) ([]auth.Rule, error) {
	if file == "" {
		return nil, nil
	}
	var doc struct {
		Rules []auth.Rule `toml:"rules"`
	}
	md, err := toml.DecodeFile(file, &doc)
	if err != nil {
		return nil, fileError(configFlag, file, err)
	}
	for _, key := range md.Undecoded() {
		if len(key) > 1 && key[0] == rulesKey {
			return nil, fmt.Errorf("config file %s: [[rules]] has no key %q: a rule takes %s", file, key[len(key)-1], strings.Join(ruleKeys(), ", "))
		}
	}
	for i, r := range doc.Rules {
		if err := checkFileRule(r); err != nil {
			return nil, fmt.Errorf("config file %s: [[rules]] number %d: %w", file, i+1, err)
		}
	}
	return doc.Rules, nil
}

// checkFileRule refuses, besides what auth refuses, the rules of a config
// file that surely say something else than was meant: roles = [], which
// names no role and so reads as every authenticated user, and roles
// without read or write, which give those roles nothing. A rule granting
// neither right closes its destinations to everybody, and says so best
// without roles.
func checkFileRule(r auth.Rule) error {
	switch {
	case r.Roles != nil && len(r.Roles) == 0:
		return errors.New("roles = [] names no role: leave roles out to grant every authenticated user, or name the roles that may use the pattern")
	case len(r.Roles) > 0 && !r.Read && !r.Write:
		return errors.New("roles without read or write give those roles nothing: set read or write, or leave roles out for a rule that closes its pattern's destinations")
	}
	return r.Check()
}

// ruleKeys lists the keys of a [[rules]] table.
func ruleKeys() []string {
	t := reflect.TypeFor[auth.Rule]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("toml")
	}
	return keys
}
