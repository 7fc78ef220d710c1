// Package redistest starts real redis-server processes for tests: one
// server, or a Redis Cluster of several masters, each on a free loopback
// port with its data in a temporary directory, stopped when the test ends.
//
// When redis-server (or, for a cluster, redis-cli) is not installed, the
// test is skipped with a message saying how to install it, except under
// CI=true, where it fails: CI installs Debian's redis-server package.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Server is one redis-server started by a test.
type Server struct {
	t    testing.TB
	Addr string // host:port on 127.0.0.1
	dir  string
	args []string
	cmd  *exec.Cmd
}

// URL is the server's address as --redis takes it.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start starts a redis-server on a free loopback port, with its data in a
// directory of the test's and the extra configuration args (such as
// "--appendonly", "yes"), and stops it when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	need(t, "redis-server")
	s := &Server{t: t, dir: t.TempDir(), args: args}
	for try := 0; ; try++ {
		s.Addr = freeAddr(t)
		err := s.start()
		if err == nil {
			break
		}
		if try == 4 {
			t.Fatalf("redistest: starting redis-server: %v", err)
		}
	}
	t.Cleanup(s.Kill)
	return s
}

// need skips the test, or fails it under CI=true, when program is missing.
func need(t testing.TB, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install redis-server); needed to test against a real Redis", program)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	}, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited: %s", s.Addr, s.logTail())
		default:
		}
		if Ping(s.Addr) == nil {
			s.cmd = cmd
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 10 s: %s", s.Addr, s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

// Kill stops the server at once (SIGKILL), as a crash would; what it had
// not persisted is lost. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	for Ping(s.Addr) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd = nil
}

// Restart starts the server again on the same address and directory, after
// Kill; with "--appendonly", "yes" among its args it comes back with what
// it had persisted.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for try := 0; try < 50; try++ { // the port may linger a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server: %v", err)
}

// Do sends one command to the server and returns its reply as text: a
// simple string, an error ("ERR ..."), an integer or a bulk string as is,
// and an array as its elements joined by newlines (nested arrays
// flattened). It is for tests that look at what a server holds.
func (s *Server) Do(args ...string) (string, error) {
	return Do(s.Addr, args...)
}

// Ping reports whether a Redis server answers PING at addr; one that asks
// for a password first (--requirepass) answers too.
func Ping(addr string) error {
	reply, err := Do(addr, "PING")
	switch {
	case err != nil && strings.Contains(err.Error(), "NOAUTH"):
		return nil
	case err == nil && reply != "PONG":
		return fmt.Errorf("PING answered %q", reply)
	}
	return err
}

// Do sends one command to the Redis server at addr (see Server.Do).
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	var out []string
	if err := readReply(bufio.NewReader(c), &out); err != nil {
		return "", err
	}
	return strings.Join(out, "\n"), nil
}

// readReply reads one RESP2 reply and appends its text to out.
func readReply(r *bufio.Reader, out *[]string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return fmt.Errorf("empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		*out = append(*out, body)
	case '-':
		return fmt.Errorf("redis: %s", body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			*out = append(*out, "")
			return err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		*out = append(*out, string(buf[:n]))
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return err
		}
		for range max(n, 0) {
			if err := readReply(r, out); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// Client connects a rueidis client to the Redis at url (a Server's or a
// Cluster's URL) as stompd does, and closes it when the test ends.
func Client(t testing.TB, url string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
