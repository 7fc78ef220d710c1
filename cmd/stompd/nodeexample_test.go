package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// nodeExample is the Node.js client example.
const nodeExample = "../examples/node"

// nodeExampleSummary is the JSON the example prints when it ends.
type nodeExampleSummary struct {
	OK         bool
	Error      string
	Received   int
	Count      int
	Reconnects int
	Refreshes  int
	Replayed   int
	Others     int
}

// TestNodeExample runs cmd/examples/node/client.mjs against a stompd whose
// access tokens live 3 s, through a proxy that the test cuts once the
// client has read some of its messages back. While the client is cut off,
// bob publishes to the same topic. The client must refresh its token in
// band, reconnect with a fresh token and ticket, resume from its last
// offset (so it reads bob's messages as a replay, with no gap and no
// duplicate, which it checks itself), and exit 0 with all its messages
// read back.
func TestNodeExample(t *testing.T) {
	node := needNodeExample(t)
	ts := startServer(t, "--access-ttl", "3s")
	proxy := newCutProxy(t, ts.httpL.Addr().String())
	const topic, count, fromBob = "/topic/node-example", 40, 5
	ada := ts.users["ada"]
	cmd := exec.Command(node, filepath.Join(nodeExample, "client.mjs"), "--url", proxy.url, "--email", ada.email,
		"--topic", topic, "--count", fmt.Sprint(count), "--interval", "100", "--timeout", "60")
	cmd.Env = append(os.Environ(), "STOMPD_PASSWORD="+ada.password)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	events := watchLines(t, stderr)

	events.waitFor(t, fmt.Sprintf("of=10/%d", count))
	proxy.cut()
	events.waitFor(t, "disconnected")
	bob := ts.connectTCP(t, ts.login(t, "bob").Access)
	for i := range fromBob {
		bob.Send(stomp.SEND, fmt.Sprint("bob ", i), "destination:"+topic, fmt.Sprint("receipt:b", i))
		bob.Expect(stomp.RECEIPT, fmt.Sprint("receipt-id:b", i))
	}
	time.Sleep(time.Second) // the client tries and fails to reconnect meanwhile
	proxy.heal()

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-time.After(90 * time.Second):
		t.Fatalf("the example did not end; it said:\n%s", events.all())
	}
	var sum nodeExampleSummary
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); err != nil || jerr != nil {
		t.Fatalf("exit %v, summary %q (%v); it said:\n%s", err, stdout.String(), jerr, events.all())
	}
	if !sum.OK || sum.Received != count || sum.Reconnects < 1 || sum.Refreshes < 1 || sum.Others != fromBob || sum.Replayed < fromBob {
		t.Errorf("summary %+v: want all %d read back, a reconnect, a refresh in band, bob's %d messages read, replayed on resuming; it said:\n%s",
			sum, count, fromBob, events.all())
	}
}

// TestNodeExampleWrongPassword: a refused login ends the example at once
// with exit 1 and a summary that says why.
func TestNodeExampleWrongPassword(t *testing.T) {
	node := needNodeExample(t)
	ts := startServer(t)
	cmd := exec.Command(node, filepath.Join(nodeExample, "client.mjs"), "--url", ts.url, "--email", ts.users["ada"].email)
	cmd.Env = append(os.Environ(), "STOMPD_PASSWORD=not ada's")
	out, err := cmd.Output()
	var sum nodeExampleSummary
	if jerr := json.Unmarshal(out, &sum); cmd.ProcessState.ExitCode() != 1 || jerr != nil || sum.OK || !strings.Contains(sum.Error, "401 invalid_credentials") {
		t.Errorf("exit %v, summary %s", err, out)
	}
}

// needNodeExample returns the path of node, and skips the test unless the
// example's packages are installed (fails it under CI=true).
func needNodeExample(t *testing.T) string {
	t.Helper()
	node := needProgram(t, "node", "apt-get install -y nodejs npm")
	if _, err := os.Stat(filepath.Join(nodeExample, "node_modules", "@stomp", "stompjs")); err != nil {
		const msg = "cmd/examples/node has no node_modules: run npm ci --prefix cmd/examples/node"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// lines collects the lines a child process writes, for a test to wait on.
type lines struct {
	mu    sync.Mutex
	text  []string
	added chan struct{} // closed and replaced on every line
	done  bool          // the stream ended
}

// watchLines reads r line by line until it ends.
func watchLines(t *testing.T, r io.Reader) *lines {
	l := &lines{added: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.add(sc.Text(), false)
		}
		l.add("", true)
	}()
	return l
}

func (l *lines) add(line string, done bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if done {
		l.done = true
	} else {
		l.text = append(l.text, line)
	}
	close(l.added)
	l.added = make(chan struct{})
}

// waitFor waits until a line holds want, for at most 30 s.
func (l *lines) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		found := strings.Contains(strings.Join(l.text, "\n"), want)
		done, added := l.done, l.added
		l.mu.Unlock()
		switch {
		case found:
			return
		case done:
			t.Fatalf("the output ended without %q:\n%s", want, l.all())
		}
		select {
		case <-added:
		case <-deadline:
			t.Fatalf("no %q within 30s:\n%s", want, l.all())
		}
	}
}

func (l *lines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.text, "\n")
}

// cutProxy forwards TCP connections to a target until it is cut: then it
// closes every connection it forwards and, until healed, every one it
// accepts, as a network that drops out does.
type cutProxy struct {
	url    string
	target string
	mu     sync.Mutex
	isCut  bool
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{url: "http://" + l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	go p.serve(l)
	t.Cleanup(func() {
		l.Close()
		p.cut()
	})
	return p
}

func (p *cutProxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

// forward copies between c and a new connection to the target, both ways,
// until either side or a cut closes them.
func (p *cutProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c, up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track records a forwarded pair, unless the proxy is cut.
func (p *cutProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isCut {
		return false
	}
	p.conns[c], p.conns[up] = true, true
	return true
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = false
}
