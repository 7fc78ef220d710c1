package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runUser runs stompd user with args in this process and returns its exit
// code, stdout and stderr.
func runUser(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"user"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestUserCommandsRefuseAMissingStore checks that a mistyped --data is
// refused by the commands that read users, instead of answering from a
// new empty store, while the first user add on a fresh machine creates
// the data dir and the store.
func TestUserCommandsRefuseAMissingStore(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo")
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"list of a missing dir", []string{"list", "--data", typo}, []string{"--data", typo, "no such directory"}},
		{"del in a missing dir", []string{"del", "--data", typo, "--email", "ada@example.com"}, []string{"--data", typo}},
		{"passwd in a missing dir", []string{"passwd", "--data", typo, "--email", "ada@example.com", "--password", "long enough"}, []string{"--data", typo}},
		{"list of a dir without a store", []string{"list", "--data", empty}, []string{"--data", empty, "user add"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runUser(tc.args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
			if len(stderr) > 200 || strings.Contains(stderr, strings.Repeat("x", 73)) {
				t.Errorf("stderr of %d bytes echoes too much: %.300q", len(stderr), stderr)
			}
		})
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("the mistyped data dir was created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, storeFile)); !os.IsNotExist(err) {
		t.Errorf("a store was created in the empty dir: %v", err)
	}

	fresh := filepath.Join(t.TempDir(), "new", "data")
	if code, stdout, stderr := runUser("add", "--data", fresh, "--email", "ada@example.com", "--password", "ada password"); code != 0 || !strings.Contains(stdout, fresh) {
		t.Fatalf("first user add on a fresh dir: exit %d, stdout %q, stderr %q; want success that names the new store", code, stdout, stderr)
	}
	if code, stdout, _ := runUser("list", "--data", fresh); code != 0 || !strings.Contains(stdout, "ada@example.com") {
		t.Errorf("list after add: exit %d, %q", code, stdout)
	}
}

// TestUserAddValidatesEmailAndPassword checks that user add and passwd
// refuse what no login could use, and that the minimum password length
// is a setting read from the flag, the environment and the config file.
func TestUserAddValidatesEmailAndPassword(t *testing.T) {
	data := t.TempDir()
	add := func(email, password string, extra ...string) []string {
		return append([]string{"add", "--data", data, "--email", email, "--password", password}, extra...)
	}
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{"not an email", "", add("notanemail", "long enough"), []string{"--email", `"notanemail"`, "user@example.com"}},
		{"two at signs", "", add("a@b@example.com", "long enough"), []string{"--email"}},
		{"empty domain", "", add("ada@", "long enough"), []string{"--email"}},
		{"a space", "", add("ada lovelace@example.com", "long enough"), []string{"--email"}},
		{"a display name", "", add("Ada <ada@example.com>", "long enough"), []string{"--email"}},
		{"one-character password", "", add("ada@example.com", "x"), []string{"--password", "at least 8", "min-password-length"}},
		{"seven characters", "", add("ada@example.com", "1234567"), []string{"--password", "at least 8"}},
		{"shorter than the flag", "", add("ada@example.com", "12345678", "--min-password-length", "12"), []string{"at least 12"}},
		{"shorter than the environment", "STOMPD_MIN_PASSWORD_LENGTH=10", add("ada@example.com", "12345678"), []string{"at least 10"}},
		{"shorter than the config file", "", add("ada@example.com", "12345678", "--config", writeFile(t, "stompd.toml", "http = \"127.0.0.1:1\"\nmin-password-length = 9")), []string{"at least 9"}},
		{"passwd too short", "", []string{"passwd", "--data", data, "--email", "ada@example.com", "--password", "x"}, []string{"--password", "at least 8"}},
		{"a zero-width space", "", add("ada\u200b@example.com", "long enough"), []string{"--email", "invisible format character"}},
		{"a 5,000-byte email", "", add(strings.Repeat("a", 4995)+"@x.io", "long enough"), []string{"--email", `aaaa"... (5000 bytes)`}},
		{"a password over 72 bytes", "", add("ada@example.com", strings.Repeat("x", 73)), []string{"--password", "at most 72: bcrypt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if name, value, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(name, value)
			}
			code, stdout, stderr := runUser(tc.args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want...)
			if len(stderr) > 200 || strings.Contains(stderr, strings.Repeat("x", 73)) {
				t.Errorf("stderr of %d bytes echoes too much: %.300q", len(stderr), stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, storeFile)); !os.IsNotExist(err) {
		t.Errorf("refused adds created a store: %v", err)
	}
	for _, args := range [][]string{
		add("ada@example.com", "12345678"),
		add("bob@example.com", "1234", "--min-password-length", "4"),
		{"passwd", "--data", data, "--email", "ada@example.com", "--password", "87654321"},
	} {
		if code, _, stderr := runUser(args...); code != 0 {
			t.Errorf("user %s: exit %d, %s", strings.Join(args, " "), code, stderr)
		}
	}
	if code, stdout, _ := runUser("list", "--data", data); code != 0 || strings.Count(stdout, "@") != 2 {
		t.Errorf("list: exit %d, %q; want ada and bob only", code, stdout)
	}
}

// TestUserCommandUsageErrorsAreOneLine checks a mistyped flag gets the
// error and a hint, not the whole usage.
func TestUserCommandUsageErrorsAreOneLine(t *testing.T) {
	code, stdout, stderr := runUser("list", "--dta", t.TempDir())
	checkOneLineRefusal(t, code, stdout, stderr, "dta", userHint)
}

// TestUserCommandsRefuseUnknownConfigKeys checks that the user commands
// refuse a config file the server would refuse for an unknown key, with
// one line naming it, and ignore the server's own settings in it.
func TestUserCommandsRefuseUnknownConfigKeys(t *testing.T) {
	data := t.TempDir()
	if code, _, stderr := runUser("add", "--data", data, "--email", "ada@example.com", "--password", "ada password"); code != 0 {
		t.Fatalf("user add: exit %d, %s", code, stderr)
	}
	for _, key := range []string{`acess-ttl = "1m"`, `email = "ada@example.com"`} {
		file := writeFile(t, "stompd.toml", key)
		code, stdout, stderr := runUser("list", "--data", data, "--config", file)
		checkOneLineRefusal(t, code, stdout, stderr, file, "unknown key", strings.Split(key, " ")[0])
	}
	server := writeFile(t, "stompd.toml", "http = \"127.0.0.1:1\"\naccess-ttl = \"1m\"\n[[rules]]\npattern = \"/topic/**\"\nread = true\n")
	if code, stdout, stderr := runUser("list", "--data", data, "--config", server); code != 0 || !strings.Contains(stdout, "ada@example.com") {
		t.Errorf("user list with the server's settings in the config file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestUserCommandsCheckSharedSettingsAsTheServer checks that a setting the
// user commands share with the server is refused by both alike: a minimum
// password length of 0, from the flag, the environment or the config
// file.
func TestUserCommandsCheckSharedSettingsAsTheServer(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		name, env string
		args      []string
		named     string // the setting as the error names it: as it was set
	}{
		{"flag", "", []string{"--min-password-length", "0"}, "--min-password-length"},
		{"environment", "STOMPD_MIN_PASSWORD_LENGTH=0", nil, "STOMPD_MIN_PASSWORD_LENGTH"},
		{"config file", "", []string{"--config", writeFile(t, "stompd.toml", "min-password-length = 0")}, "stompd.toml: min-password-length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if name, value, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(name, value)
			}
			args := append([]string{"add", "--data", data, "--email", "ada@example.com", "--password", "x"}, tc.args...)
			code, stdout, stderr := runUser(args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.named+` "0"`, "positive")
			code, stdout, stderr = runChildOnce(t, []string{tc.env}, append([]string{"--data", data, "--http", "127.0.0.1:0", "--stomp="}, tc.args...)...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.named+` "0"`, "positive")
		})
	}
	if _, err := os.Stat(filepath.Join(data, storeFile)); !os.IsNotExist(err) {
		t.Errorf("a refused add created a store: %v", err)
	}
}

// TestUserAddRefusesControlCharacters checks that user add refuses a name
// or an email holding a control character, which would break the table
// of user list, and that the table keeps one line per user.
func TestUserAddRefusesControlCharacters(t *testing.T) {
	data := t.TempDir()
	add := func(email, name string) []string {
		return []string{"add", "--data", data, "--email", email, "--password", "long enough", "--name", name}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"newline in the name", add("ada@example.com", "Ada\nmallory@example.com  admin"), "--name"},
		{"tab in the name", add("ada@example.com", "Ada\tLovelace"), "--name"},
		{"escape in the name", add("ada@example.com", "\x1b[31mAda"), "--name"},
		{"line separator in the name", add("ada@example.com", "Ada\u2028Lovelace"), "--name"},
		{"control character in the email", add("ada\x01@example.com", "Ada"), "--email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runUser(tc.args...)
			checkOneLineRefusal(t, code, stdout, stderr, tc.want, "control character")
		})
	}
	if code, _, stderr := runUser(add("ada@example.com", "Ada Lovelace (ÅÇ 数学)")...); code != 0 {
		t.Fatalf("user add with a plain name: exit %d, %s", code, stderr)
	}
	if code, stdout, _ := runUser("list", "--data", data); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Errorf("user list: exit %d, %q; want a header and one line", code, stdout)
	}
}
