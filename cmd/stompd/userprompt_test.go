package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// onTerminal runs stompd with args in a child process whose standard
// input is a terminal, made by script(1), that reads typed; it returns
// the exit code and what the terminal showed.
func onTerminal(t *testing.T, typed string, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) (Debian's bsdutils) is missing")
		}
		t.Skip("script(1) (Debian's bsdutils) is missing: the prompt needs a terminal")
	}
	cmd := exec.Command("script", "-qec", os.Args[0]+" -test.run=^$", "/dev/null")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, " "))
	cmd.Stdin = strings.NewReader(typed)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestUserAddPromptsOnATerminal adds a user with neither --password nor
// --password-stdin from a terminal: stompd asks twice and refuses two
// different answers; the password typed logs in. Adding the same email
// again, or changing the password of no one, is refused before stompd asks.
func TestUserAddPromptsOnATerminal(t *testing.T) {
	data := t.TempDir()
	add := []string{"user", "add", "--data", data, "--email", "cy@example.com"}
	code, shown := onTerminal(t, "typed password\nanother one\n", add...)
	if code != 2 || !strings.Contains(shown, "Password for cy@example.com:") || !strings.Contains(shown, "differ") {
		t.Fatalf("two different passwords: exit %d, terminal %q", code, shown)
	}
	code, shown = onTerminal(t, "typed password\ntyped password\n", add...)
	if code != 0 || !strings.Contains(shown, "Again:") || !strings.Contains(shown, "added cy@example.com") {
		t.Fatalf("the same password twice: exit %d, terminal %q", code, shown)
	}
	code, shown = onTerminal(t, "typed password\ntyped password\n", add...)
	if code == 0 || strings.Contains(shown, "Password for") || !strings.Contains(shown, "user add cy@example.com: a user with this email exists") {
		t.Fatalf("adding cy again: exit %d, terminal %q; want refused before the prompt", code, shown)
	}
	code, shown = onTerminal(t, "", "user", "passwd", "--data", data, "--email", "nobody@example.com")
	if code == 0 || strings.Contains(shown, "Password for") || !strings.Contains(shown, "no such user") {
		t.Fatalf("passwd of nobody: exit %d, terminal %q; want refused before the prompt", code, shown)
	}
	ts := startServer(t, "--data", data)
	login(t, ts.url, &testUser{email: "cy@example.com", password: "typed password"})
}
