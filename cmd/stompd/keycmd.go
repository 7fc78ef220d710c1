package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
)

const keyUsage = `Usage:
  stompd key list   --data DIR
  stompd key rotate --data DIR [--access-ttl D]
  (each also with --redis URL instead of --data DIR)

rotate makes a new signing key, which signs every access token from then on.
The key it replaces still verifies the tokens it signed until they expire
(the access-token lifetime and a few seconds), and /.well-known/jwks.json
lists both meanwhile; then it leaves the ring and the JWKS. list shows the
ring: the current key, then each older key with the time until which it
verifies. Only the default Ed25519 keys rotate: with an HS256 secret, change
the secret; in verify-only mode, the identity provider rotates its keys.

With a server running on DIR the commands go through it (DIR/stompd.sock);
otherwise they work on DIR's store, and --access-ttl (default 15m) must be
the server's. With --redis URL they work on the keys the nodes of a cluster
share, while the nodes run: every node verifies the new key's tokens at once
and signs with it within 5 seconds.

--data, --config, --redis and --access-ttl are also read from STOMPD_DATA,
STOMPD_CONFIG, STOMPD_REDIS and STOMPD_ACCESS_TTL, and from the config file.
`

// keyHint tells where the key commands and their flags are listed.
const keyHint = "stompd key --help lists them"

// keyCommand lists or rotates the signing keys of a data dir's or a
// cluster's store.
func keyCommand(args []string, stdout, stderr io.Writer) error {
	sub, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, rest = args[0], args[1:]
	}
	fs := flag.NewFlagSet("stompd key "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var set sharedSettings
	set.declare(fs)
	accessTTL := fs.Duration("access-ttl", auth.DefaultAccessTTL, "the server's access-token lifetime, for how long a replaced key verifies")
	err := parseSettings(fs, rest, settingSources{hint: keyHint})
	if errors.Is(err, flag.ErrHelp) || err == nil && sub == "" {
		fmt.Fprint(stderr, keyUsage)
	}
	switch {
	case err != nil:
		return err
	case sub == "":
		return usageError{errors.New("key: missing subcommand, list or rotate")}
	case sub != "list" && sub != "rotate":
		return usageError{fmt.Errorf("key: unknown subcommand %q; %s", sub, keyHint)}
	case *accessTTL <= 0:
		return usageError{fmt.Errorf("--access-ttl %v: want a positive duration such as 15m", *accessTTL)}
	}
	ring, err := keyRing(set, sub, *accessTTL)
	if err != nil {
		return fmt.Errorf("key %s: %w", sub, err)
	}
	if sub == "rotate" {
		fmt.Fprintf(stdout, "rotated: key %s signs from now on\n", ring.KID)
	}
	return printKeys(stdout, ring)
}

// keyRing runs a key subcommand on the Redis of --redis, else through the
// server running on the data dir, else on the data dir's store.
func keyRing(set sharedSettings, sub string, accessTTL time.Duration) (auth.KeyRing, error) {
	if set.Redis != "" {
		c, err := newRedisClient(set.Redis)
		if err != nil {
			return auth.KeyRing{}, err
		}
		defer c.Close()
		return keysOf(redisstore.New(c, redisstore.Options{}), sub, accessTTL)
	}
	method, path := http.MethodGet, "/admin/keys"
	if sub == "rotate" {
		method, path = http.MethodPost, "/admin/keys/rotate"
	}
	var ring auth.KeyRing
	if err := callControl(set.DataDir, method, path, nil, &ring); !errors.Is(err, errNoServer) {
		return ring, err
	}
	s, err := openUserStore(set.DataDir, false, io.Discard)
	if err != nil {
		return ring, err
	}
	defer s.Close()
	return keysOf(authStore{s}, sub, accessTTL)
}

// keysOf lists or rotates the ring of signing keys in ks.
func keysOf(ks auth.KeyStore, sub string, accessTTL time.Duration) (auth.KeyRing, error) {
	keys, err := auth.LoadEd25519Keys(ks)
	if err != nil {
		return auth.KeyRing{}, err
	}
	if sub == "list" {
		return keys.Ring()
	}
	return keys.Rotate(time.Now(), accessTTL, auth.DefaultLeeway)
}

// printKeys writes the ring as a table, the current key first.
func printKeys(out io.Writer, ring auth.KeyRing) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tVERIFIES UNTIL")
	for _, k := range ring.Keys {
		until := "(current: signs)"
		if !k.VerifyUntil.IsZero() {
			until = k.VerifyUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.KID, k.Created.UTC().Format(time.RFC3339), until)
	}
	return tw.Flush()
}
