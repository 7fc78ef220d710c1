package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/persist"
)

// storeFile is the name of the bbolt file inside the data dir.
const storeFile = "stompd.db"

// lockTimeout bounds how long a command waits for a data dir another
// process holds.
const lockTimeout = time.Second

const userUsage = `Usage:
  stompd user add     --email E [--password-stdin | --password P] [--roles r1,r2] [--name N]
  stompd user list
  stompd user del     --email E
  stompd user passwd  --email E [--password-stdin | --password P]
  stompd user roles   --email E --roles r1,r2
  stompd user disable --email E
  stompd user enable  --email E
  stompd user logout  --email E
  stompd user unlock  --email E
each with --data DIR (default ./data) or --redis URL.

While a server runs on DIR, the commands go to it through its control
socket DIR/stompd.sock (mode 0600; the server refuses any uid but its own
and root's) and take effect at once.
With no server running they open DIR's store themselves; only add creates a
data dir and store that do not exist yet. With --redis URL they work on the
users that the nodes of a cluster share in that Redis, while the nodes run.

passwd, roles, disable, del and logout end every login of the user, on
every node: the user's refresh tokens stop working, its access tokens are
refused, and its live STOMP sessions get an ERROR frame and close. A
disabled user cannot log in until enabled again. unlock forgets the failed
logins that throttle an account, which only a running server (or Redis)
counts. roles replaces the user's roles; --roles "" leaves none.

Passwords: --password-stdin reads the password from the first line of
standard input (pass show stompd/ada | stompd user passwd --email E
--password-stdin). With neither flag and a terminal on standard input,
stompd checks that add's email is free (passwd's user exists), then asks
for it twice without echo. A password is at most 72 bytes, all that bcrypt
reads. --password P also works, but puts
the password in the shell's history and, while stompd runs, in the process
list that every local user can read: prefer --password-stdin.

--data, --config, --min-password-length (default 8) and --redis are also
read from STOMPD_DATA, STOMPD_CONFIG, STOMPD_MIN_PASSWORD_LENGTH and
STOMPD_REDIS, and from the config file.
`

// userArgs are a user subcommand and its arguments.
type userArgs struct {
	sub, email, name string
	roles            []string
	password         string
	// prompt, when set, asks for the password at the terminal.
	prompt func() (string, error)
}

// roleList returns the roles as the API takes them: an empty list, never
// null, for --roles "", which the API would read as no change of roles.
func (a userArgs) roleList() []string {
	return append([]string{}, a.roles...)
}

// userAction runs a subcommand through the admin API behind b.
type userAction func(b adminBackend, a userArgs, out io.Writer) error

// userActions are the subcommands of stompd user.
var userActions = map[string]userAction{
	"add":     promptFirst(addUser),
	"list":    listUsers,
	"del":     changeUser(http.MethodDelete, "", nil, "deleted %s; its logins ended"),
	"passwd":  promptFirst(patchUser(func(a userArgs) map[string]any { return map[string]any{"password": a.password} }, "changed the password of %s; its logins ended")),
	"roles":   patchUser(func(a userArgs) map[string]any { return map[string]any{"roles": a.roleList()} }, "set the roles of %s; its logins ended"),
	"disable": patchUser(func(userArgs) map[string]any { return map[string]any{"disabled": true} }, "disabled %s; its logins ended"),
	"enable":  patchUser(func(userArgs) map[string]any { return map[string]any{"disabled": false} }, "enabled %s"),
	"logout":  changeUser(http.MethodPost, "/logout", nil, "ended every login of %s"),
	"unlock":  unlockUser,
}

// userCommand manages the users of a data dir's store or of a cluster's
// Redis, through the admin API.
func userCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, userUsage)
		if len(args) == 0 {
			return usageError{errors.New("user: missing subcommand")}
		}
		return flag.ErrHelp
	}
	a, set, err := parseUserArgs(args[0], args[1:], stdin, stderr)
	if err != nil {
		return err
	}
	return withAdmin(set, a, stdout, func(b adminBackend) error { return userActions[a.sub](b, a, stdout) })
}

func addUser(b adminBackend, a userArgs, out io.Writer) error {
	var u admin.User
	in := map[string]any{"email": a.email, "password": a.password, "name": a.name, "roles": a.roleList()}
	if err := b.call(http.MethodPost, "/admin/users", in, &u); err != nil {
		return err
	}
	fmt.Fprintf(out, "added %s (id %s)\n", u.Email, u.ID)
	return nil
}

func listUsers(b adminBackend, _ userArgs, out io.Writer) error {
	var list struct{ Users []admin.User }
	if err := b.call(http.MethodGet, "/admin/users", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLES\tSTATUS\tCREATED")
	for _, u := range list.Users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, strings.Join(u.Roles, ","), status, u.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}

// promptFirst returns next, which sets a password: with one to type at the
// prompt, it first asks the API whether the user exists, so that no one
// types a password twice to learn that add's email is taken or passwd's
// unknown. The action itself still refuses those in one atomic step.
func promptFirst(next userAction) userAction {
	return func(b adminBackend, a userArgs, out io.Writer) error {
		if a.prompt == nil {
			return next(b, a, out)
		}
		err := b.call(http.MethodGet, userPath(a.email), nil, nil)
		var e *admin.Error
		switch {
		case a.sub == "add" && err == nil:
			return &admin.Error{Status: http.StatusConflict, Code: "conflict", Message: admin.ErrEmailTaken.Error()}
		case a.sub == "add" && errors.As(err, &e) && e.Status == http.StatusNotFound:
		case err != nil:
			return err
		}
		if a.password, err = a.prompt(); err != nil {
			return err
		}
		return next(b, a, out)
	}
}

// changeUser returns the action that sends method to the user's path
// plus suffix, with body in, and says done about the email.
func changeUser(method, suffix string, in func(userArgs) map[string]any, done string) userAction {
	return func(b adminBackend, a userArgs, out io.Writer) error {
		var body any
		if in != nil {
			body = in(a)
		}
		if err := b.call(method, userPath(a.email)+suffix, body, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, done+"\n", a.email)
		return nil
	}
}

// patchUser returns the action that sends PATCH with body in.
func patchUser(in func(userArgs) map[string]any, done string) userAction {
	return changeUser(http.MethodPatch, "", in, done)
}

func unlockUser(b adminBackend, a userArgs, out io.Writer) error {
	var res struct{ Failures int }
	if err := b.call(http.MethodPost, userPath(a.email)+"/unlock", nil, &res); err != nil {
		return err
	}
	if res.Failures == 0 {
		fmt.Fprintf(out, "%s had no failed logins to forget\n", a.email)
		return nil
	}
	fmt.Fprintf(out, "unlocked %s: forgot %d failed logins\n", a.email, res.Failures)
	return nil
}

// userPath is the admin API's path of the user with this email.
func userPath(email string) string {
	return "/admin/users/" + url.PathEscape(email)
}

// openStore opens the store in dataDir, creating both on first use, as the
// server does; onWrite, if not nil, is told how each commit went.
func openStore(dataDir string, onWrite func(error)) (*persist.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return persist.Open(filepath.Join(dataDir, storeFile), persist.Options{Timeout: lockTimeout, OnWrite: onWrite})
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
