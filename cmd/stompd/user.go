package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stompd/stompd/persist"
)

// storeFile is the name of the bbolt file inside the data dir.
const storeFile = "stompd.db"

// lockTimeout bounds how long a command waits for a data dir another
// process holds.
const lockTimeout = time.Second

const userUsage = `Usage:
  stompd user add    --data DIR --email E --password P [--roles r1,r2] [--name N]
  stompd user list   --data DIR
  stompd user del    --data DIR --email E
  stompd user passwd --data DIR --email E --password P
  stompd user unlock --data DIR --email E
  (each also with --redis URL instead of --data DIR)

The server must not be running on the same data dir for add, list, del and
passwd: it holds the store's lock. unlock clears the failed logins that
throttle an account, in the server running on DIR (through DIR/stompd.sock).
Only add creates a data dir and store that do not exist yet.

With --redis URL the commands work on the users a cluster of nodes shares in
that Redis, while the nodes run: passwd and del end the user's logins on
every node, and unlock clears the account's failed logins for every node.

--data, --config, --min-password-length (default 8) and --redis are also
read from STOMPD_DATA, STOMPD_CONFIG, STOMPD_MIN_PASSWORD_LENGTH and
STOMPD_REDIS, and from the config file.
`

// userCommand manages the users in a data dir's store.
func userCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, userUsage)
		if len(args) == 0 {
			return usageError{errors.New("user: missing subcommand")}
		}
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("stompd user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var set sharedSettings
	set.declare(fs)
	email := fs.String("email", "", "the user's email, which is also the login")
	password := fs.String("password", "", "the user's password")
	roles := fs.String("roles", "", "comma-separated roles")
	name := fs.String("name", "", "display name")
	if err := parseUserFlags(fs, args[1:], stderr); err != nil {
		return err
	}
	if err := set.check(); err != nil {
		return usageError{err}
	}
	a := userArgs{sub: sub, email: *email, name: *name, roles: splitList(*roles), password: newPassword{*password, set.MinPasswordLength}}
	if !slices.Contains(userSubcommands, sub) {
		return usageError{fmt.Errorf("user: unknown subcommand %q; %s", sub, userHint)}
	}
	if err := checkUserInput(sub, a.email, a.name, a.password); err != nil {
		return err
	}
	switch {
	case set.Redis != "":
		return redisUserCommand(set.Redis, a, stdout)
	case sub == "unlock":
		return unlockUser(set.DataDir, a.email, stdout)
	}
	return boltUserCommand(set.DataDir, a, stdout)
}

// userSubcommands are the subcommands of stompd user.
var userSubcommands = []string{"add", "list", "del", "passwd", "unlock"}

// userArgs are a user subcommand and its arguments.
type userArgs struct {
	sub, email, name string
	roles            []string
	password         newPassword
}

// boltUserCommand runs a user subcommand but unlock on the data dir's
// store.
func boltUserCommand(dataDir string, a userArgs, stdout io.Writer) error {
	run := map[string]func(*persist.Store) error{
		"add": func(s *persist.Store) error {
			return addUser(s, stdout, a.email, a.password, a.name, a.roles)
		},
		"list": func(s *persist.Store) error { return listUsers(s, stdout) },
		"del": func(s *persist.Store) error {
			return need(a.email, "--email", func() error { return s.DeleteUser(a.email) })
		},
		"passwd": func(s *persist.Store) error { return setPassword(s, a.email, a.password) },
	}[a.sub]
	s, err := openUserStore(dataDir, a.sub == "add", stdout)
	if err != nil {
		return err
	}
	defer s.Close()
	return run(s)
}

// openStore opens the store in dataDir, creating both on first use, as the
// server does.
func openStore(dataDir string) (*persist.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return persist.Open(filepath.Join(dataDir, storeFile), persist.Options{Timeout: lockTimeout})
}

func addUser(s *persist.Store, out io.Writer, email string, password newPassword, name string, roles []string) error {
	hash, err := password.hash()
	if err != nil {
		return err
	}
	u, err := s.AddUser(persist.User{Email: email, Name: name, Roles: roles, PasswordHash: hash})
	if err != nil {
		return fmt.Errorf("user add %s: %w", email, err)
	}
	fmt.Fprintf(out, "added %s (id %s)\n", u.Email, u.ID)
	return nil
}

func listUsers(s *persist.Store, out io.Writer) error {
	users, err := s.Users()
	if err != nil {
		return err
	}
	return printUsers(out, users)
}

// printUsers writes users as a table.
func printUsers(out io.Writer, users []persist.User) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLES\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, strings.Join(u.Roles, ","), u.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}

func setPassword(s *persist.Store, email string, password newPassword) error {
	hash, err := password.hash()
	if err != nil {
		return err
	}
	return s.SetPassword(email, hash)
}

func need(value, flagName string, f func() error) error {
	if value == "" {
		return usageError{fmt.Errorf("%s is required", flagName)}
	}
	return f()
}

// splitList splits a comma-separated setting, dropping empty elements.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
