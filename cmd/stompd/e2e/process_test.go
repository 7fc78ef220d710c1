package e2e_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// process is a child process the test started. It is stopped, and its
// output shown when the test failed, by a t.Cleanup.
type process struct {
	name   string
	exited chan struct{} // closed when the process has exited
	err    error         // the exit status, once exited is closed
}

// startProcess starts bin with args, its stdout and stderr going to a log
// file in a temporary directory.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	p := &process{name: filepath.Base(bin), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(cmd)
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", p.name, out)
		}
	})
	return p
}

// stop asks the process to terminate and kills it if it has not within a
// few seconds.
func (p *process) stop(cmd *exec.Cmd) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-p.exited
	}
}

// waitHealthy waits until url answers 200, failing at once if the process
// exits first.
func (p *process) waitHealthy(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	ok := poll(20*time.Second, 50*time.Millisecond, func() bool {
		select {
		case <-p.exited:
			return true
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	select {
	case <-p.exited:
		t.Fatalf("%s exited before %s answered: %v", p.name, url, p.err)
	default:
	}
	if !ok {
		t.Fatalf("%s: %s did not answer 200", p.name, url)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a child process to listen on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// poll calls cond every interval until it returns true or timeout passes,
// and reports whether it did.
func poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
