package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unlock runs `stompd user unlock` on dir and returns its exit code and
// outputs.
func unlock(t *testing.T, dir, email string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run([]string{"user", "unlock", "--data", dir, "--email", email}, &out, &errOut)
	return code, out.String(), errOut.String()
}

// wrongLogins fails n logins for u from the test's address.
func (ts *testServer) wrongLogins(t *testing.T, u *testUser, n int) {
	t.Helper()
	for range n {
		if resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": u.email, "password": "wrong"}, nil); resp.StatusCode != 401 {
			t.Fatalf("wrong password: status %d", resp.StatusCode)
		}
	}
}

// TestUserUnlockThroughRunningServer locks ada out with five wrong
// passwords, unlocks her with `stompd user unlock` against the running
// server, and logs her in.
func TestUserUnlockThroughRunningServer(t *testing.T) {
	ts := startServer(t)
	ada := ts.users["ada"]
	ts.wrongLogins(t, ada, 5)
	right := map[string]string{"email": ada.email, "password": ada.password}
	if resp := httpJSON(t, "POST", ts.url+"/auth/login", right, nil); resp.StatusCode != 429 {
		t.Fatalf("right password after five wrong ones: status %d, want 429", resp.StatusCode)
	}
	code, out, errOut := unlock(t, ts.cfg.DataDir, ada.email)
	if code != 0 || !strings.Contains(out, "unlocked "+ada.email) {
		t.Fatalf("user unlock: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	ts.login(t, "ada")
	if logs := ts.logs.String(); !strings.Contains(logs, `msg="login throttle cleared" email=`+ada.email+" failures=5") {
		t.Errorf("the unlock is not logged:\n%s", logs)
	}
	sock := filepath.Join(ts.cfg.DataDir, controlSocket)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket %s: %v, %v; want a socket of mode 0600", sock, fi.Mode(), err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived the server: %v", err)
	}
}

// TestUserUnlockWithoutServer runs `stompd user unlock` on a data dir no
// server runs on, with the socket a killed server left behind: it says
// that nothing is locked and succeeds (but refuses a data dir that does
// not exist), and a server starts there all the same.
func TestUserUnlockWithoutServer(t *testing.T) {
	dir := t.TempDir()
	staleSocket(t, filepath.Join(dir, controlSocket))
	code, out, errOut := unlock(t, dir, "ada@example.com")
	if code != 0 || !strings.Contains(out, "no server is running") {
		t.Fatalf("user unlock without a server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := unlock(t, filepath.Join(dir, "typo"), "ada@example.com"); code != 1 || !strings.Contains(errOut, "typo") {
		t.Errorf("user unlock on a data dir that does not exist: exit %d, stderr %q", code, errOut)
	}
	ts := startServer(t, "--data", dir)
	code, out, errOut = unlock(t, dir, ts.users["ada"].email)
	if code != 0 || !strings.Contains(out, "had no failed logins") {
		t.Fatalf("user unlock on the restarted server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestUserUnlockServerWithoutSocket removes a running server's socket:
// user unlock then fails, saying why, rather than claiming nothing is
// locked.
func TestUserUnlockServerWithoutSocket(t *testing.T) {
	ts := startServer(t)
	if err := os.Remove(filepath.Join(ts.cfg.DataDir, controlSocket)); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := unlock(t, ts.cfg.DataDir, "ada@example.com")
	if code != 1 || !strings.Contains(errOut, "restart") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("user unlock without the socket: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// staleSocket leaves a socket file at path that nothing listens on, as a
// killed server does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// dataDirOfSocketPath returns a new data dir whose control socket path
// is n bytes long.
func dataDirOfSocketPath(t *testing.T, n int) string {
	t.Helper()
	base := t.TempDir()
	pad := n - len(filepath.Join(base, "d", controlSocket)) + 1
	if pad < 1 {
		t.Skipf("the temporary dir %s is too long to make a control socket path of %d bytes", base, n)
	}
	dir := filepath.Join(base, strings.Repeat("d", pad))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestControlSocketInTheLongestDataDir starts a server on a data dir whose
// control socket path is as long as a unix socket path may be: the server
// starts, and user unlock reaches it.
func TestControlSocketInTheLongestDataDir(t *testing.T) {
	dir := dataDirOfSocketPath(t, maxSocketPath)
	ts := startServer(t, "--data", dir)
	code, out, errOut := unlock(t, dir, ts.users["ada"].email)
	if code != 0 || !strings.Contains(out, "had no failed logins") {
		t.Fatalf("user unlock with a %d-byte socket path: exit %d, stdout %q, stderr %q", maxSocketPath, code, out, errOut)
	}
}

// TestDataDirTooLongForControlSocket starts a server on a data dir whose
// control socket path is one byte too long: the server starts and serves,
// logging one warning that its control socket is off and why, and user
// unlock says in one line that the data dir path is too long.
func TestDataDirTooLongForControlSocket(t *testing.T) {
	dir := dataDirOfSocketPath(t, maxSocketPath+1)
	ts := startServer(t, "--data", dir)
	ts.login(t, "ada")
	if logs := ts.logs.String(); strings.Count(logs, "control socket off") != 1 || !strings.Contains(logs, "too long") {
		t.Errorf("want one warning that the control socket is off because the path is too long; logs:\n%s", logs)
	}
	code, out, errOut := unlock(t, dir, ts.users["ada"].email)
	checkOneLineRefusal(t, code, out, errOut, "user unlock", "data dir path is too long for the control socket")
	if code != 1 {
		t.Errorf("user unlock: exit %d, want 1", code)
	}
}
