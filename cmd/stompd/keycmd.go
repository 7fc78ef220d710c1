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

rotate makes a new signing key. /.well-known/jwks.json lists it at once (in
a cluster, on every node within 5 seconds), and it signs every access token
from 15 seconds after the rotation (its signs_from), so that services that
verify tokens with the JWKS know it before any token of it exists. Until
then, rotate again is refused. The key it replaces signs until then and
verifies the tokens it signed until they expire (the access-token lifetime
and a few seconds after the switch); then it leaves the ring and the JWKS.
list shows the ring: the newest key (while it waits, with the time from
which it signs), then each older key with the time until which it verifies.
Only the default Ed25519 keys rotate: with an HS256 secret, change the
secret; in verify-only mode, the identity provider rotates its keys.

With a server running on DIR the commands go through it (DIR/stompd.sock);
otherwise they work on DIR's store, and --access-ttl (default 15m) must be
the server's. With --redis URL they work on the keys the nodes of a cluster
share, while the nodes run.

--data, --config, --redis and --access-ttl are also read from STOMPD_DATA,
STOMPD_CONFIG, STOMPD_REDIS and STOMPD_ACCESS_TTL, and from the config file.
`

// keyPublishDelay is how long after a rotation the new key signs, in the
// server and in the key command; tests shorten it.
var keyPublishDelay = auth.DefaultKeyPublishDelay

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
		fmt.Fprintf(stdout, "rotated: key %s is published now and signs from %s\n", ring.Keys[0].KID, ring.Keys[0].SignsFrom.UTC().Format(time.RFC3339))
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
		return keys.Ring(time.Now())
	}
	return keys.Rotate(time.Now(), keyPublishDelay, accessTTL, auth.DefaultLeeway)
}

// printKeys writes the ring as a table, the newest key first.
func printKeys(out io.Writer, ring auth.KeyRing) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tSTATE")
	for _, k := range ring.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.KID, k.Created.UTC().Format(time.RFC3339), keyState(ring, k))
	}
	return tw.Flush()
}

// keyState says what k does in ring: it signs, waits to sign, or only
// verifies, and until when.
func keyState(ring auth.KeyRing, k auth.KeyInfo) string {
	switch {
	case k.KID == ring.Next:
		return "(next: published, signs from " + k.SignsFrom.UTC().Format(time.RFC3339) + ")"
	case k.KID == ring.KID && k.VerifyUntil.IsZero():
		return "(current: signs)"
	case k.KID == ring.KID:
		return "(current: signs until the next key does, verifies until " + k.VerifyUntil.UTC().Format(time.RFC3339) + ")"
	}
	return "verifies until " + k.VerifyUntil.UTC().Format(time.RFC3339)
}
