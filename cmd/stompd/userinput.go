package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/persist"
)

// userHint tells where the user commands and their flags are listed.
const userHint = "stompd user --help lists them"

// parseUserArgs parses the flags of the user subcommand sub, checks them
// as the admin API will, and reads the password the subcommand sets. The
// settings it shares with the server are also read from the environment
// and the config file.
func parseUserArgs(sub string, args []string, stdin io.Reader, stderr io.Writer) (userArgs, sharedSettings, error) {
	fs := flag.NewFlagSet("stompd user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var set sharedSettings
	set.declare(fs)
	email := fs.String("email", "", "the user's email, which is also the login")
	password := fs.String("password", "", "the password to set; --password-stdin keeps it out of the shell history and the process list")
	fromStdin := fs.Bool("password-stdin", false, "read the password to set from the first line of standard input")
	roles := fs.String("roles", "", "comma-separated roles")
	name := fs.String("name", "", "display name")
	from := setFrom{}
	err := parseSettings(fs, args, settingSources{shared: sharedSettingNames(), hint: userHint, set: from})
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, userUsage)
	}
	if err != nil {
		return userArgs{}, set, err
	}
	if err := set.check(); err != nil {
		return userArgs{}, set, usageError{from.spelled(err)}
	}
	if _, ok := userActions[sub]; !ok {
		return userArgs{}, set, usageError{fmt.Errorf("user: unknown subcommand %q; %s", sub, userHint)}
	}
	a := userArgs{sub: sub, email: *email, name: *name, roles: splitList(*roles), password: *password}
	if err := checkUserArgs(a, flagSet(fs, "roles")); err != nil {
		return userArgs{}, set, err
	}
	if sub == "add" || sub == "passwd" {
		a, err = newPassword(a, *fromStdin, stdin, set.MinPasswordLength, stderr)
	}
	return a, set, err
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkUserArgs refuses, before any store is opened or created, what the
// subcommand could not store.
func checkUserArgs(a userArgs, rolesGiven bool) error {
	if a.sub == "list" {
		return nil
	}
	if a.email == "" {
		return usageError{fmt.Errorf("user %s: --email is required", a.sub)}
	}
	if a.sub == "roles" && !rolesGiven {
		return usageError{errors.New(`user roles: --roles is required (--roles "" for none)`)}
	}
	checks := []struct {
		setting, value string
		err            error
	}{
		{"--email", a.email, admin.CheckText(a.email)},
		{"--name", a.name, admin.CheckName(a.name)},
		{"--roles", strings.Join(a.roles, ","), admin.CheckRoles(a.roles)},
	}
	if a.sub == "add" {
		checks[0].err = admin.CheckEmail(a.email)
	}
	for _, c := range checks {
		if c.err != nil {
			return usageError{valueError{c.setting, c.value, c.err.Error()}}
		}
	}
	return nil
}

// maxPasswordLine bounds the line --password-stdin reads.
const maxPasswordLine = 4096

// newPassword returns a with the password that add or passwd sets:
// --password, or the first line of stdin with --password-stdin; with
// neither and a terminal on stdin, a.prompt asks for it (twice, on
// stderr) when the action is ready to use it. It refuses a password
// shorter than minLength, without quoting it.
func newPassword(a userArgs, fromStdin bool, stdin io.Reader, minLength int, stderr io.Writer) (userArgs, error) {
	var err error
	switch {
	case fromStdin && a.password != "":
		return a, usageError{errors.New("--password and --password-stdin: give one of them")}
	case fromStdin:
		a.password, err = readPasswordLine(stdin)
	case a.password == "":
		f, err := terminal(stdin)
		a.prompt = func() (string, error) {
			p, err := promptPassword(a.email, f, stderr)
			if err != nil {
				return "", err
			}
			return p, checkPassword(p, minLength)
		}
		return a, err
	}
	if err == nil {
		err = checkPassword(a.password, minLength)
	}
	return a, err
}

// checkPassword refuses a password that the API would, saying which
// setting to change when it is too short.
func checkPassword(p string, minLength int) error {
	if err := admin.CheckPassword(p, minLength); err != nil {
		hint := ""
		if len(p) <= admin.MaxPasswordBytes {
			hint = " (--min-password-length)"
		}
		return usageError{fmt.Errorf("--password: %w%s", err, hint)}
	}
	return nil
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	if len(line) == maxPasswordLine && !strings.HasSuffix(line, "\n") {
		return "", usageError{fmt.Errorf("--password-stdin: the first line is longer than %d bytes", maxPasswordLine)}
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageError{errors.New("--password-stdin: standard input holds no password")}
	}
	return line, nil
}

// terminal returns stdin as the terminal to ask for a password on, or
// the usage error saying that it is none.
func terminal(stdin io.Reader) (*os.File, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, usageError{errors.New("--password-stdin or --password is required: standard input is not a terminal to ask on")}
	}
	return f, nil
}

// promptPassword asks on the terminal f for the password of email twice,
// without echo.
func promptPassword(email string, f *os.File, stderr io.Writer) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	p, err := read("Password for " + email + ": ")
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	again, err := read("Again: ")
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the password: %w", err)
	case again != p:
		return "", usageError{errors.New("the two passwords differ")}
	}
	return p, nil
}

// openUserStore opens the store a user command works on. Only user add
// creates a missing store, with its data dir, and says so: an operator may
// add the first user before the server's first start. The other commands
// refuse a data dir without a store, most often a mistyped --data, rather
// than answer from a new, empty one.
func openUserStore(dataDir string, create bool, out io.Writer) (*persist.Store, error) {
	path := filepath.Join(dataDir, storeFile)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return openStore(dataDir, nil)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fileError("data", dataDir, err)
	case create:
		s, err := openStore(dataDir, nil)
		if err == nil {
			fmt.Fprintf(out, "created a new store: %s\n", path)
		}
		return s, err
	}
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--data %s: no such directory", dataDir)
	}
	return nil, fmt.Errorf("--data %s: holds no store (%s); stompd user add or the server's first start creates one", dataDir, storeFile)
}
