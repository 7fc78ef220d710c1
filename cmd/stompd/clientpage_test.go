package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserDir holds the pages of the client tests and, once
// `npm ci --prefix testdata/browser` has run, the bundles they load.
const browserDir = "../../testdata/browser"

// browserBundles checks that the client libraries are installed. Without
// them the client tests are skipped, except under CI=true.
func browserBundles(t *testing.T) {
	t.Helper()
	for _, f := range []string{
		"node_modules/@stomp/stompjs/bundles/stomp.umd.min.js",
		"node_modules/sockjs-client/dist/sockjs.min.js",
	} {
		if _, err := os.Stat(filepath.Join(browserDir, f)); err != nil {
			msg := fmt.Sprintf("%s missing (npm ci --prefix testdata/browser): the browser client tests need it", f)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// pageOrigin serves the client pages on a loopback origin of its own, as
// a front end's dev server does, and returns that origin.
func pageOrigin(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(browserDir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// pageEvent is one thing a client on the page saw (testdata/browser/clients.js).
type pageEvent struct {
	Client  string            `json:"client"`
	Type    string            `json:"type"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Code    int               `json:"code"`
	Error   string            `json:"error"`
	Ticket  string            `json:"ticket"`
	Exp     int64             `json:"exp"`
}

// clientPage is clients.html in a tab of its own. Its console errors fail
// the test unless they match an expectation the test declared.
type clientPage struct {
	*tab

	mu       sync.Mutex
	console  []string
	expected []*regexp.Regexp
}

// record keeps the page's console errors and exceptions.
func (p *clientPage) record(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.console = append(p.console, m.String())
}

// openClientPage loads clients.html from origin, talking to stompd at
// stompdURL.
func openClientPage(t *testing.T, browser context.Context, origin, stompdURL string) *clientPage {
	t.Helper()
	p := &clientPage{tab: &tab{t: t, name: t.Name()}}
	p.open(browser, p.record, p.checkConsole)
	p.do("loading the page", chromedp.Navigate(origin+"/clients.html"))
	p.waitFor("the page's script", "window.ready === true")
	p.call("configure", stompdURL)
	return p
}

// expectConsole accepts the console errors that match pattern.
func (p *clientPage) expectConsole(pattern string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = append(p.expected, regexp.MustCompile(pattern))
}

// sawConsole waits a bounded time for a console error matching pattern.
func (p *clientPage) sawConsole(pattern string) bool {
	re := regexp.MustCompile(pattern)
	for range 100 {
		p.mu.Lock()
		for _, m := range p.console {
			if re.MatchString(m) {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (p *clientPage) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
next:
	for _, m := range p.console {
		for _, re := range p.expected {
			if re.MatchString(m) {
				continue next
			}
		}
		p.t.Errorf("console: %s", m)
	}
}

// pageCall runs fn(args...) in the page, awaiting a promise, and returns
// its result decoded as T.
func pageCall[T any](p *clientPage, fn string, args ...any) T {
	p.t.Helper()
	js := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			p.t.Fatal(err)
		}
		js[i] = string(b)
	}
	return evaluate[T](p.t, p.tab, fn+"("+strings.Join(js, ", ")+")")
}

// call runs fn(args...) in the page for its effect.
func (p *clientPage) call(fn string, args ...any) {
	p.t.Helper()
	pageCall[chromedp.Void](p, fn, args...)
}

// events is what the page's clients saw so far.
func (p *clientPage) events() []pageEvent {
	p.t.Helper()
	return evaluate[[]pageEvent](p.t, p.tab, "window.events")
}

// count is how many events of type client saw.
func (p *clientPage) count(client, typ string) int {
	n := 0
	for _, e := range p.events() {
		if e.Client == client && e.Type == typ {
			n++
		}
	}
	return n
}

// waitEvent waits until client saw n events of type typ and returns the
// nth; on timeout the test fails with every event the page recorded.
func (p *clientPage) waitEvent(client, typ string, n int) pageEvent {
	p.t.Helper()
	cond := fmt.Sprintf("window.events.filter(e => e.client === %q && e.type === %q).length >= %d", client, typ, n)
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		p.t.Fatalf("waiting for %s %s #%d: %v; events: %+v", client, typ, n, err, p.events())
	}
	var seen []pageEvent
	for _, e := range p.events() {
		if e.Client == client && e.Type == typ {
			seen = append(seen, e)
		}
	}
	return seen[n-1]
}
