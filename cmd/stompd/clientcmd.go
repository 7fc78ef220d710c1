package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/auth/redisstore"
)

const clientUsage = `Usage:
  stompd client add    --data DIR --id ID [--roles r1,r2]
  stompd client list   --data DIR
  stompd client del    --data DIR --id ID
  stompd client unlock --data DIR --id ID
  (each also with --redis URL instead of --data DIR)

Service accounts are for backends that publish without a user: a client
trades its id and secret for an access token at POST /auth/token
(grant_type=client_credentials), whose sub is client:ID and whose roles are
the client's. add prints the secret, alone on a line on standard output
(the rest goes to standard error), this once: only its hash is kept. del
ends the client's live sessions and the tokens it holds, and it can get no
new one. A client's token requests are throttled per address (5 wrong
secrets for one client, 30 for all, within 15 minutes) but never for the
client as a whole; unlock forgets the client's failures from every address
(only a running server, or Redis, counts them). POST /auth/logout with a
client's token ends that token only, and the sessions that hold it: the
client's other tokens and new ones keep working.

While a server runs on DIR the commands go through it (DIR/stompd.sock);
otherwise they work on DIR's store. With --redis URL they work on the
clients a cluster of nodes shares in that Redis, while the nodes run: del
ends the client's sessions on every node.

An ID is 1 to 64 letters, digits, '-', '_' and '.', not only dots. --data,
--config and --redis are also read from STOMPD_DATA, STOMPD_CONFIG and
STOMPD_REDIS, and from the config file.
`

// clientHint tells where the client commands and their flags are listed.
const clientHint = "stompd client --help lists them"

// clientSubcommands are the subcommands of stompd client.
var clientSubcommands = []string{"add", "list", "del", "unlock"}

// clientAdmin is where a client command does its work: the running
// server, the data dir's store, or the cluster's Redis.
type clientAdmin interface {
	add(id string, roles []string) (auth.Client, string, error)
	list() ([]auth.Client, error)
	del(id string) error
	unlock(id string) (int, error)
}

// clientCommand manages service accounts.
func clientCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, clientUsage)
		if len(args) == 0 {
			return usageError{errors.New("client: missing subcommand")}
		}
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("stompd client "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var set sharedSettings
	set.declare(fs)
	id := fs.String("id", "", "the client's id: 1 to 64 letters, digits, '-', '_' and '.', not only dots")
	roles := fs.String("roles", "", "comma-separated roles of the client's tokens")
	err := parseSettings(fs, args[1:], settingSources{shared: sharedSettingNames(), hint: clientHint})
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, clientUsage)
	}
	if err != nil {
		return err
	}
	if err := checkClientArgs(sub, *id); err != nil {
		return err
	}
	return runClientCommand(sub, *id, splitList(*roles), set, stdout, stderr)
}

// checkClientArgs refuses, before any store is opened, an unknown
// subcommand and a missing or malformed id.
func checkClientArgs(sub, id string) error {
	switch {
	case !slices.Contains(clientSubcommands, sub):
		return usageError{fmt.Errorf("client: unknown subcommand %q; %s", sub, clientHint)}
	case sub == "list":
		return nil
	case id == "":
		return usageError{fmt.Errorf("client %s: --id is required", sub)}
	}
	if err := auth.CheckClientID(id); err != nil {
		return usageError{fmt.Errorf("client %s: %w", sub, err)}
	}
	return nil
}

// runClientCommand runs sub on Redis with --redis, else through the server
// running on the data dir, else on the data dir's store.
func runClientCommand(sub, id string, roles []string, set sharedSettings, stdout, stderr io.Writer) error {
	if set.Redis != "" {
		c, err := newRedisClient(set.Redis)
		if err != nil {
			return err
		}
		defer c.Close()
		s := redisstore.New(c, redisstore.Options{})
		return doClientCommand(storeClients{s, s}, sub, id, roles, stdout, stderr)
	}
	err := doClientCommand(controlClients{set.DataDir}, sub, id, roles, stdout, stderr)
	switch {
	case sub == "unlock" && errors.Is(err, errNoServer):
		return noServer(set.DataDir, stdout)
	case sub == "unlock", !errors.Is(err, errNoServer) && !errors.Is(err, errControlPathTooLong):
		return err
	}
	s, err := openUserStore(set.DataDir, sub == "add", stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	return doClientCommand(storeClients{authStore{s}, nil}, sub, id, roles, stdout, stderr)
}

// doClientCommand runs sub on ca and reports the outcome: add's secret
// alone on stdout, what it did on stderr.
func doClientCommand(ca clientAdmin, sub, id string, roles []string, stdout, stderr io.Writer) error {
	switch sub {
	case "add":
		c, secret, err := ca.add(id, roles)
		if err != nil {
			return fmt.Errorf("client add %s: %w", id, err)
		}
		fmt.Fprintf(stderr, "added client %s (sub %s, roles [%s]); its secret, shown this once:\n", c.ID, c.Subject(), strings.Join(c.Roles, ","))
		fmt.Fprintln(stdout, secret)
		return nil
	case "list":
		cs, err := ca.list()
		if err != nil {
			return fmt.Errorf("client list: %w", err)
		}
		return printClients(stdout, cs)
	case "unlock":
		n, err := ca.unlock(id)
		if err != nil {
			return fmt.Errorf("client unlock %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "unlocked client %s: forgot %d failed token requests\n", id, n)
		return nil
	}
	if err := ca.del(id); err != nil {
		return fmt.Errorf("client del %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "deleted client %s\n", id)
	return nil
}

// printClients writes clients as a table.
func printClients(out io.Writer, cs []auth.Client) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLES\tCREATED")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, strings.Join(c.Roles, ","), c.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// storeClients works on a store of clients: the data dir's, or Redis.
// Deleting a client there denies its login in the store; a server that
// starts later, or every node on Redis, applies it. throttle is the
// nodes' shared login throttle on Redis; a data dir has none (its
// server's lives in memory), and unlock is not asked of it.
type storeClients struct {
	s        auth.ClientStore
	throttle auth.LoginThrottle
}

func (sc storeClients) add(id string, roles []string) (auth.Client, string, error) {
	c, secret, err := auth.NewClient(id, roles, time.Now())
	if err != nil {
		return auth.Client{}, "", err
	}
	if err := sc.s.AddClient(c); err != nil {
		return auth.Client{}, "", err
	}
	return c, secret, nil
}

func (sc storeClients) list() ([]auth.Client, error) { return sc.s.Clients() }

func (sc storeClients) del(id string) error {
	_, err := sc.s.DeleteClient(id)
	return err
}

// unlock forgets the failed token requests of client id that every node
// of a cluster counts in Redis.
func (sc storeClients) unlock(id string) (int, error) {
	if _, err := sc.s.ClientByID(id); err != nil {
		return 0, err
	}
	return sc.throttle.Unlock(auth.ClientAccountKey(id), auth.ThrottleLimits{Window: auth.DefaultThrottleWindow}, time.Now())
}

// controlClients works through the admin API of the server running on a
// data dir, on its control socket.
type controlClients struct{ dataDir string }

func (cc controlClients) add(id string, roles []string) (auth.Client, string, error) {
	var res admin.NewClient
	if err := callControl(cc.dataDir, http.MethodPost, "/admin/clients", admin.NewClient{ID: id, Roles: roles}, &res); err != nil {
		return auth.Client{}, "", err
	}
	c := auth.Client{ID: res.ID, Roles: res.Roles}
	if res.Created != nil {
		c.Created = *res.Created
	}
	return c, res.Secret, nil
}

func (cc controlClients) list() ([]auth.Client, error) {
	var res admin.ClientList
	if err := callControl(cc.dataDir, http.MethodGet, "/admin/clients", nil, &res); err != nil {
		return nil, err
	}
	cs := make([]auth.Client, len(res.Clients))
	for i, c := range res.Clients {
		cs[i] = auth.Client{ID: c.ID, Roles: c.Roles, Created: c.Created}
	}
	return cs, nil
}

func (cc controlClients) del(id string) error {
	return callControl(cc.dataDir, http.MethodDelete, "/admin/clients/"+url.PathEscape(id), nil, nil)
}

func (cc controlClients) unlock(id string) (int, error) {
	var res struct{ Failures int }
	err := callControl(cc.dataDir, http.MethodPost, "/admin/clients/"+url.PathEscape(id)+"/unlock", nil, &res)
	return res.Failures, err
}
