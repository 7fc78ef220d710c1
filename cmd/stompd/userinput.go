package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/persist"
)

// userHint tells where the user commands and their flags are listed.
const userHint = "stompd user --help lists them"

// parseUserFlags parses a user command's flags; the settings it shares
// with the server are also read from the environment and the config file.
// It prints the usage when args ask for it.
func parseUserFlags(flags *flag.FlagSet, args []string, stderr io.Writer) error {
	err := parseSettings(flags, args, settingSources{shared: sharedSettingNames(), hint: userHint})
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, userUsage)
	}
	return err
}

// checkUserInput refuses, before any store is opened or created, what
// user add or passwd could not store.
func checkUserInput(sub, email, name string, password newPassword) error {
	if sub != "add" && sub != "passwd" {
		return nil
	}
	if email == "" || password.text == "" {
		return usageError{fmt.Errorf("user %s: --email and --password are required", sub)}
	}
	if sub == "add" {
		if err := checkEmail(email); err != nil {
			return err
		}
		if err := checkText("--name", name); err != nil {
			return err
		}
	}
	return password.check()
}

// checkText refuses a value of setting that is not UTF-8 or holds a
// control character: a line break, a tab, an escape or a bidirectional
// control, which would break or disguise the lines and columns that list
// it.
func checkText(setting, value string) error {
	switch {
	case !utf8.ValidString(value):
		return usageError{valueError{setting, value, "not valid UTF-8"}}
	case strings.ContainsFunc(value, isControl):
		return usageError{valueError{setting, value, "holds a control character: leave it out"}}
	}
	return nil
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// checkEmail accepts a bare address, as logins are typed: one @ between a
// non-empty local part and domain, no spaces or control characters, and
// no display name or quoting, so that net/mail reads it as itself.
func checkEmail(email string) error {
	if err := checkText("--email", email); err != nil {
		return err
	}
	local, domain, _ := strings.Cut(email, "@")
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || local == "" || domain == "" ||
		strings.Contains(domain, "@") || strings.ContainsFunc(email, unicode.IsSpace) {
		return usageError{valueError{"--email", email, "not an email address: write it as user@example.com"}}
	}
	return nil
}

// newPassword is a password stompd is about to set, and the fewest
// characters it must have (--min-password-length).
type newPassword struct {
	text      string
	minLength int
}

// check refuses a password shorter than the minimum. The refusal never
// quotes the password.
func (p newPassword) check() error {
	if n := utf8.RuneCountInString(p.text); n < p.minLength {
		return usageError{fmt.Errorf("--password: %d characters, want at least %d (--min-password-length)", n, p.minLength)}
	}
	return nil
}

// hash checks the password and returns its bcrypt hash.
func (p newPassword) hash() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(p.text), bcrypt.DefaultCost)
	if err != nil {
		return nil, usageError{fmt.Errorf("--password: %w", err)}
	}
	return hash, nil
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
		return openStore(dataDir)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fileError("data", dataDir, err)
	case create:
		s, err := openStore(dataDir)
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
