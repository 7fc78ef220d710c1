package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserWait bounds every single browser action and wait.
const browserWait = 20 * time.Second

// chromiumPath finds Chromium. Without it the browser tests are skipped,
// except under CI=true, where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not found (apt-get install -y chromium): the browser tests need it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile; it stops
// when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		// Loopback only: no name resolves, so nothing leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		// Two pages run side by side and both must keep their timers
		// (refresh, heart-beats) running on time.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// tab is one page in a browser context of its own (its own cookie jar),
// whose console it records: any error there fails the test.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu         sync.Mutex
	errors     []string
	allowReset bool // connection-refused and blocked-request network errors are expected
}

// newTab opens a tab in a new browser context of browser; its console
// errors fail the test.
func newTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	tb := &tab{t: t, name: name}
	tb.open(browser, tb.record, tb.checkConsole)
	return tb
}

// open starts tb in a new browser context of browser. Every console message
// goes to record; check runs once the tab has closed, at the end of the test.
func (tb *tab) open(browser context.Context, record func(chromedp.ConsoleMessage), check func()) {
	tb.t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		tb.t.Fatalf("%s: opening a tab: %v", tb.name, err)
	}
	tb.ctx = ctx
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			record(m)
		}
	}()
	tb.t.Cleanup(func() {
		cancel()
		<-done
		check()
	})
}

func (tb *tab) record(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
		return
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.allowReset && m.Source == "network" && (strings.Contains(m.Text, "ERR_CONNECTION_REFUSED") || strings.Contains(m.Text, "ERR_BLOCKED_BY_CLIENT")) {
		return
	}
	tb.errors = append(tb.errors, m.String()+" at "+m.URL)
}

// expectServerDown accepts from now on the browser's own errors for
// requests refused while the server is stopped.
func (tb *tab) expectServerDown() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowReset = true
}

// blockAuth blocks the page's requests to /auth (on) or lets them through
// again (off): a page that cannot get a token or a ticket cannot connect.
// The browser's errors for blocked requests are expected meanwhile.
func (tb *tab) blockAuth(on bool) {
	tb.t.Helper()
	var patterns []*network.BlockPattern
	if on {
		patterns = []*network.BlockPattern{{URLPattern: "*://*:*/auth/*", Block: true}}
	}
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		tb.t.Fatalf("%s: enabling the network domain: %v", tb.name, err)
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns}); err != nil {
		tb.t.Fatalf("%s: blocking /auth: %v", tb.name, err)
	}
}

func (tb *tab) checkConsole() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.errors {
		tb.t.Errorf("%s: console: %s", tb.name, e)
	}
}

// do runs actions in the tab, bounded by browserWait.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// waitFor polls a JavaScript condition until it holds.
func (tb *tab) waitFor(what, condition string) {
	tb.t.Helper()
	tb.do("waiting for "+what, chromedp.Poll[chromedp.Void](condition,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(browserWait)))
}

// evaluate returns the value of a JavaScript expression in tb; a promise is
// awaited. Failures are reported to t, which may be a subtest's.
func evaluate[T any](t testing.TB, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: evaluating %s: %v", tb.name, expr, err)
	}
	return v
}

// screenshot saves the whole page as a PNG among the test's artifacts
// (go test -artifacts keeps them) and returns its path.
func (tb *tab) screenshot(name string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	path := filepath.Join(tb.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot %s", path)
	return path
}
