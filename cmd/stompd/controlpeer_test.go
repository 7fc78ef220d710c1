package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// nobody is the uid and gid a peer of another user runs as.
const nobody = 65534

// runAsNobody runs this test binary as stompd with args, as uid nobody,
// and returns its exit code and stderr. The binary is copied to dir, which
// nobody can read.
func runAsNobody(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running as uid %d: %v", nobody, err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// publicCopyOfTestBinary copies this test binary where uid nobody can run
// it, and returns its path.
func publicCopyOfTestBinary(t *testing.T) string {
	t.Helper()
	dir := openDir(t, t.TempDir())
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "stompd.test")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// openDir makes dir and its parent, both t.TempDir's, searchable by
// everyone, and returns dir.
func openDir(t *testing.T, dir string) string {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestControlSocketRefusesOtherUsers runs stompd user list and stompd
// backup as another uid against a running server's control socket: with
// the socket's mode 0600, the kernel refuses them, and the command says
// to run as the server's user; with the socket loosened to 0666, the
// server reads the peer's uid and refuses it (403, counted), so that
// neither lists users nor copies the store; root's own commands go on,
// logged as "local uid 0".
func TestControlSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a peer of another uid (uid 65534) against the control socket")
	}
	ts := startServer(t)
	dir := openDir(t, ts.cfg.DataDir)
	bin := publicCopyOfTestBinary(t)
	out := filepath.Join(openDir(t, t.TempDir()), "copy.db")

	code, stderr := runAsNobody(t, bin, "user", "list", "--data", dir)
	if code == 0 || !strings.Contains(stderr, "cannot reach the server's control socket") || !strings.Contains(stderr, "permission denied: run as the user the server runs as (or root)") {
		t.Errorf("user list as uid %d on a 0600 socket: exit %d, %q", nobody, code, stderr)
	}
	if err := os.Chmod(filepath.Join(dir, controlSocket), 0o666); err != nil {
		t.Fatal(err)
	}
	refused := fmt.Sprintf("uid %d may not use the control socket", nobody)
	code, stderr = runAsNobody(t, bin, "user", "list", "--data", dir)
	if code == 0 || !strings.Contains(stderr, refused) || strings.Contains(stderr, "ada@") {
		t.Errorf("user list as uid %d on a 0666 socket: exit %d, %q; want refused", nobody, code, stderr)
	}
	code, stderr = runAsNobody(t, bin, "backup", "--data", dir, "--out", out)
	if code == 0 || !strings.Contains(stderr, "backup: the server refused the copy: "+refused) || strings.Count(stderr, "backup:") != 1 {
		t.Errorf("backup as uid %d on a 0666 socket: exit %d, %q; want refused, said once", nobody, code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused backup left %s", out)
	}
	if got := testutil.ToFloat64(ts.metrics.AdminRequests.WithLabelValues("refused", "forbidden")); got != 2 {
		t.Errorf("admin_requests_total{action=refused,result=forbidden} = %v, want 2", got)
	}
	if code, stdout, stderr := runUser("list", "--data", dir); code != 0 || !strings.Contains(stdout, "ada@") {
		t.Fatalf("user list as root: exit %d, %q, %q", code, stdout, stderr)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, `actor="local uid 0" action=users.list`) {
		t.Errorf("the control socket's action is not logged with the peer's uid; logs:\n%s", logs)
	}
}
