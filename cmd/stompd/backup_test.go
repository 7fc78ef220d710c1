package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// runBackup runs `stompd backup` with args.
func runBackup(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"backup"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestBackupOfARunningServerRestoresUsersAndPersistentMessages backs up
// the data dir of a running server that holds users and persistent queue
// messages, and starts another server on a data dir holding only the copy:
// the users log in and the messages are delivered.
func TestBackupOfARunningServerRestoresUsersAndPersistentMessages(t *testing.T) {
	ts := startServer(t)
	p := ts.connectTCP(t, ts.login(t, "ada").Access)
	sendPersistent(t, p, "/queue/kept", 10)
	out := filepath.Join(t.TempDir(), "stompd.db.bak")
	code, stdout, stderr := runBackup("--data", ts.cfg.DataDir, "--out", out)
	if code != 0 || !strings.Contains(stdout, "backed up") {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, %v; want a file of mode 0600", fi.Mode(), err)
	}
	if !strings.Contains(ts.logs.String(), `msg=backup bytes=`) {
		t.Error("the server did not log the backup")
	}
	p.Send(stomp.SEND, "after", "destination:/queue/kept", "persistent:true", "receipt:a")
	p.Expect(stomp.RECEIPT, "receipt-id:a")

	restored := t.TempDir()
	copyFile(t, out, filepath.Join(restored, storeFile))
	rs := startChild(t, restored)
	sub := stomptest.Dial(t, rs.stompAddr)
	sub.Connect("Authorization:Bearer " + login(t, rs.url, ts.users["ada"]).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/kept", "id:1")
	for i := range 10 {
		if f := sub.Expect(stomp.MESSAGE); string(f.Body) != "p"+strconv.Itoa(i) {
			t.Fatalf("message %d from the copy: %q", i, f.Body)
		}
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestBackupWithoutAServer copies the store of a data dir no server runs
// on, and refuses what it cannot do with one clear line.
func TestBackupWithoutAServer(t *testing.T) {
	ts := startServer(t)
	dir := ts.cfg.DataDir
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if code, stdout, stderr := runBackup("--data", dir, "--out", out); code != 0 || !strings.Contains(stdout, "backed up") {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	restored := t.TempDir()
	copyFile(t, out, filepath.Join(restored, storeFile))
	login(t, startChild(t, restored).url, ts.users["bob"])

	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--data", dir, "--out", out}, 1, "exists"},
		{[]string{"--data", dir}, 2, "--out FILE is required"},
		{[]string{"--data", filepath.Join(dir, "typo"), "--out", out + "2"}, 1, "no such directory"},
		{[]string{"--data", t.TempDir(), "--out", out + "3"}, 1, "holds no store"},
		{[]string{"--redis", "redis://127.0.0.1:1", "--out", out + "4"}, 2, "back up Redis"},
	} {
		code, _, stderr := runBackup(c.args...)
		if code != c.code || !strings.Contains(stderr, c.says) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("backup %q: exit %d, stderr %q; want exit %d, one line saying %q", c.args, code, stderr, c.code, c.says)
		}
	}
	for _, leftover := range []string{out + "2", out + "3", out + "4"} {
		if _, err := os.Stat(leftover); !os.IsNotExist(err) {
			t.Errorf("a refused backup left %s: %v", leftover, err)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*part*")); len(matches) > 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

// TestBackupToStandardOutput writes the copy to stdout, as for a pipe.
func TestBackupToStandardOutput(t *testing.T) {
	ts := startServer(t)
	code, stdout, stderr := runBackup("--data", ts.cfg.DataDir, "--out", "-")
	if code != 0 || len(stdout) < 4096 {
		t.Fatalf("backup --out -: exit %d, %d bytes, stderr %q", code, len(stdout), stderr)
	}
	path := filepath.Join(t.TempDir(), storeFile)
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	login(t, startChild(t, filepath.Dir(path)).url, ts.users["ada"])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
