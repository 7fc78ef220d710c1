package admin

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what an account holds, so that no request makes the store
// keep more than a person would type.
const (
	maxEmailLength = 254 // the longest address SMTP carries
	maxNameLength  = 200
	maxRoles       = 32
	maxRoleLength  = 64
	// MaxPasswordBytes is the longest password bcrypt hashes.
	MaxPasswordBytes = 72
)

// DefaultMinPasswordLength is the fewest characters of a password when
// Options.MinPasswordLength is 0.
const DefaultMinPasswordLength = 8

// The checks below are the ones every way of managing users makes (the
// API, and the stompd user commands before they call it). Their errors
// say what is wrong with a value without naming where it came from, a
// flag or a JSON field, which the caller adds.

// CheckText refuses a value that is not UTF-8 or holds a control
// character: a line break, a tab, an escape or a bidirectional control,
// which would break or disguise the lines and columns that list it.
func CheckText(value string) error {
	switch {
	case !utf8.ValidString(value):
		return errors.New("not valid UTF-8")
	case strings.ContainsFunc(value, isControl):
		return errors.New("holds a control character: leave it out")
	}
	return nil
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// CheckEmail accepts a bare address, as logins are typed: one @ between a
// non-empty local part and domain, no spaces or control characters, and
// no display name or quoting, so that net/mail reads it as itself. It
// also refuses invisible format characters (Unicode category Cf: a
// zero-width space or joiner, a byte order mark), with which one address
// would pose as another; display names keep them, as emoji need them.
func CheckEmail(email string) error {
	if err := CheckText(email); err != nil {
		return err
	}
	if strings.ContainsFunc(email, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return errors.New("holds an invisible format character (such as a zero-width space): leave it out")
	}
	local, domain, _ := strings.Cut(email, "@")
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || local == "" || domain == "" || len(email) > maxEmailLength ||
		strings.Contains(domain, "@") || strings.ContainsFunc(email, unicode.IsSpace) {
		return errors.New("not an email address: write it as user@example.com")
	}
	return nil
}

// CheckName refuses a display name that CheckText refuses or that is
// longer than 200 bytes.
func CheckName(name string) error {
	if len(name) > maxNameLength {
		return fmt.Errorf("%d bytes, want at most %d", len(name), maxNameLength)
	}
	return CheckText(name)
}

// CheckRoles refuses more than 32 roles, and a role that is empty, longer
// than 64 bytes, or holds a comma, a space or a control character, which
// a comma-separated list could not carry.
func CheckRoles(roles []string) error {
	if len(roles) > maxRoles {
		return fmt.Errorf("%d roles, want at most %d", len(roles), maxRoles)
	}
	for _, r := range roles {
		switch {
		case r == "":
			return errors.New("an empty role")
		case len(r) > maxRoleLength:
			return fmt.Errorf("role %.16q...: longer than %d bytes", r, maxRoleLength)
		case strings.ContainsFunc(r, func(c rune) bool { return c == ',' || unicode.IsSpace(c) }):
			return fmt.Errorf("role %q: holds a comma or a space", r)
		}
		if err := CheckText(r); err != nil {
			return fmt.Errorf("role %q: %w", r, err)
		}
	}
	return nil
}

// CheckPassword refuses a password of fewer than minLength characters or
// more than MaxPasswordBytes bytes. The refusal never quotes the password.
func CheckPassword(password string, minLength int) error {
	if n := utf8.RuneCountInString(password); n < minLength {
		return fmt.Errorf("%d characters, want at least %d", n, minLength)
	}
	if len(password) > MaxPasswordBytes {
		return fmt.Errorf("%d bytes, want at most %d: bcrypt, which stores it, reads no more", len(password), MaxPasswordBytes)
	}
	return nil
}
