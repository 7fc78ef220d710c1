package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stompd/stompd/stomp/stomptest"
)

// demoServer is stompd --demo run in-process. It can be stopped and started
// again on the same address and data dir, as an operator restarts it.
type demoServer struct {
	t         *testing.T
	dir, addr string
	accessTTL string
	passwords map[string]string // email -> password, from the start-up log
	stop      func()
}

// startDemo runs stompd --demo with the given access-token lifetime; it
// stops when the test ends.
func startDemo(t *testing.T, accessTTL string) *demoServer {
	d := &demoServer{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", accessTTL: accessTTL}
	d.start()
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *demoServer) start() {
	d.t.Helper()
	c, err := parseConfig([]string{"--demo", "--data", d.dir, "--http", d.addr, "--stomp", "", "--access-ttl", d.accessTTL}, io.Discard)
	if err != nil {
		d.t.Fatal(err)
	}
	logs := new(stomptest.Logs)
	s, err := newServer(c, logs.Logger(slog.LevelInfo))
	if err != nil {
		d.t.Fatal(err)
	}
	d.addr = s.httpL.Addr().String()
	d.passwords = demoPasswords(d.t, logs.String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	d.stop = func() {
		cancel()
		if err := <-done; err != nil {
			d.t.Errorf("demo server: %v", err)
		}
		d.stop = func() {}
	}
}

func (d *demoServer) url() string { return "http://" + d.addr + "/" }

// demoPasswords reads the demo users' passwords from the server's log, as
// a person trying the demo does.
func demoPasswords(t *testing.T, logs string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, sm := range regexp.MustCompile(`msg="demo user" email=(\S+) password=(\S+)`).FindAllStringSubmatch(logs, -1) {
		m[sm[1]] = sm[2]
	}
	for _, u := range demoUsers {
		if m[u.Email] == "" {
			t.Fatalf("no password for %s in the log:\n%s", u.Email, logs)
		}
	}
	return m
}

// foreignResource matches a reference that would make the browser fetch
// from another site (a link in a comment is no such thing).
var foreignResource = regexp.MustCompile(`(?i)(src=|href=|url\(|from |import\(|fetch\(|WebSocket\()\s*["']?(https?:|wss?:)?//`)

// TestDemoFiles checks what the demo page is made of: our own files only,
// served with a strict policy, nothing fetched from elsewhere.
func TestDemoFiles(t *testing.T) {
	srv := startDemo(t, "1m")
	for _, tc := range []struct{ path, contentType string }{
		{"/", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/stomp.js", "text/javascript; charset=utf-8"},
		{"/style.css", "text/css; charset=utf-8"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.url() + strings.TrimPrefix(tc.path, "/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != demoPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if u := foreignResource.Find(body); u != nil {
				t.Errorf("loads from another site: %s", u)
			}
		})
	}
	resp, err := http.Post(srv.url(), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", resp.StatusCode)
	}
	embedded, err := fs.Glob(demoFiles, "demo/*")
	if err != nil || len(embedded) != 4 {
		t.Errorf("embedded files %v (%v): the page is index.html, app.js, stomp.js and style.css", embedded, err)
	}
}

// TestStompJSCodec runs the page's STOMP frame codec in the browser.
func TestStompJSCodec(t *testing.T) {
	browser := newBrowser(t)
	srv := startDemo(t, "1m")
	tb := newTab(t, browser, "codec")
	tb.do("opening the page", chromedp.Navigate(srv.url()))
	for _, tc := range []struct{ name, expr, want string }{
		{"escape", `m.escapeHeader("a:b\\c\nd\re")`, `"a\\cb\\\\c\\nd\\re"`},
		{"unescape", `m.unescapeHeader("a\\cb\\\\c\\nd\\re")`, `"a:b\\c\nd\re"`},
		{"invalid escape", `errorName(() => m.unescapeHeader("a\\tb"))`, `"StompError"`},
		{"trailing backslash", `errorName(() => m.unescapeHeader("a\\"))`, `"StompError"`},
		{"encode counts UTF-8 bytes", `m.encodeFrame("SEND", {destination: "/topic/a:b"}, "é")`,
			`"SEND\ndestination:/topic/a\\cb\ncontent-length:2\n\né\u0000"`},
		{"CONNECT is not escaped", `m.encodeFrame("CONNECT", {login: "a:b"})`, `"CONNECT\nlogin:a:b\n\n\u0000"`},
		{"heart-beats and CRLF", `m.decodeFrames("\n\r\nRECEIPT\r\nreceipt-id:r\\c1\r\n\r\n\u0000\n")`,
			`[{"command":"RECEIPT","headers":{"receipt-id":"r:1"},"body":""}]`},
		{"content-length body with NUL", `m.decodeFrames(new TextEncoder().encode("MESSAGE\ncontent-length:4\n\na\u0000é\u0000").buffer)`,
			`[{"command":"MESSAGE","headers":{"content-length":"4"},"body":"a\u0000é"}]`},
		{"first repeated header wins", `m.decodeFrames("MESSAGE\nfoo:1\nfoo:2\n\n\u0000")[0].headers`, `{"foo":"1"}`},
		{"CONNECTED is not unescaped", `m.decodeFrames("CONNECTED\nserver:a\\cb\n\n\u0000")[0].headers`, `{"server":"a\\cb"}`},
		{"two frames in one message", `m.decodeFrames("RECEIPT\nreceipt-id:1\n\n\u0000RECEIPT\nreceipt-id:2\n\n\u0000").length`, `2`},
		{"wrong content-length", `errorName(() => m.decodeFrames("MESSAGE\ncontent-length:5\n\nab\u0000"))`, `"StompError"`},
		{"missing NUL", `errorName(() => m.decodeFrames("MESSAGE\n\nab"))`, `"StompError"`},
		{"heart-beat negotiation", `m.negotiateHeartBeat([10000, 10000], "5000,20000")`, `[20000,10000]`},
		{"no heart-beats", `m.negotiateHeartBeat([10000, 10000], "0,0")`, `[0,0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := evaluate[string](t, tb, `import("/stomp.js").then(m => {
				const errorName = f => { try { f(); return "no error" } catch (e) { return e.name } };
				return JSON.stringify(`+tc.expr+`);
			})`)
			if got != tc.want {
				t.Errorf("%s\n got %s\nwant %s", tc.expr, got, tc.want)
			}
		})
	}
}

// chatLine is a message as a page shows it.
type chatLine struct {
	Kind   string `json:"kind"` // room, mine, dm-in or dm-out
	Sender string `json:"sender"`
	Text   string `json:"text"`
}

// flowStep is an entry of a page's flow log.
type flowStep struct {
	Step   string `json:"step"`
	What   string `json:"what"`
	Detail string `json:"detail"`
}

// demoPage is the demo page logged in as one user.
type demoPage struct {
	*tab
	email string
	name  string // as presence shows the user to the others
}

// openDemo opens the page in a tab of its own, for the demo user of email.
func openDemo(t *testing.T, browser context.Context, srv *demoServer, email string) *demoPage {
	t.Helper()
	p := &demoPage{tab: newTab(t, browser, email), email: email}
	for _, u := range demoUsers {
		if u.Email == email {
			p.name = u.Name
		}
	}
	p.do("opening the page", chromedp.Navigate(srv.url()), chromedp.WaitVisible(chromedp.ID("login-form")))
	return p
}

// logIn logs in with the password from the server's log, picking the email
// with its button.
func (p *demoPage) logIn(srv *demoServer) {
	p.t.Helper()
	p.do("logging in",
		chromedp.Click(chromedp.CSS(`[data-email="`+p.email+`"]`)),
		chromedp.SendKeys(chromedp.ID("password"), srv.passwords[p.email]),
		chromedp.Click(chromedp.ID("login-button")),
	)
	p.waitConnected()
}

func (p *demoPage) waitConnected() {
	p.t.Helper()
	p.waitFor("the connection", `document.getElementById("status").dataset.state === "connected"`)
}

// say types text and sends it to the chosen target.
func (p *demoPage) say(text string) {
	p.t.Helper()
	p.do("typing", chromedp.SendKeys(chromedp.ID("text"), text))
	p.sendTyped()
}

// sendTyped sends what the text box holds and waits for the RECEIPT, after
// which the page empties the box.
func (p *demoPage) sendTyped() {
	p.t.Helper()
	p.do("sending", chromedp.Click(chromedp.ID("send")))
	p.waitFor("the text box to empty", `document.getElementById("text").value === ""`)
}

// waitLine waits until the page shows the message.
func (p *demoPage) waitLine(l chatLine) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%+v", l), `[...document.querySelectorAll("#messages .msg")].some(li =>
		li.dataset.kind === `+jsString(l.Kind)+` && li.dataset.sender === `+jsString(l.Sender)+
		` && li.querySelector(".text").textContent === `+jsString(l.Text)+`)`)
}

// waitPeer waits until other is listed among the people in the room.
func (p *demoPage) waitPeer(other *demoPage) {
	p.t.Helper()
	p.waitFor(other.name+" in the room", `[...document.querySelectorAll("#people .person")].some(b => b.textContent === `+jsString(other.name)+`)`)
}

func (p *demoPage) lines() []chatLine {
	p.t.Helper()
	return evaluate[[]chatLine](p.t, p.tab, `[...document.querySelectorAll("#messages .msg")].map(li =>
		({kind: li.dataset.kind, sender: li.dataset.sender, text: li.querySelector(".text").textContent}))`)
}

// checkTranscript asserts that the page shows exactly want.
func (p *demoPage) checkTranscript(want []chatLine) {
	p.t.Helper()
	if got := p.lines(); !slices.Equal(got, want) {
		p.t.Errorf("%s shows\n%+v\nwant\n%+v", p.name, got, want)
	}
}

func (p *demoPage) steps() []flowStep {
	p.t.Helper()
	return evaluate[[]flowStep](p.t, p.tab, `[...document.querySelectorAll("#log li")].map(li =>
		({step: li.dataset.step, what: li.querySelector(".what").textContent, detail: li.querySelector("pre")?.textContent ?? ""}))`)
}

func (p *demoPage) count(step string) int {
	n := 0
	for _, s := range p.steps() {
		if s.Step == step {
			n++
		}
	}
	return n
}

// waitSteps waits until the flow log holds n entries of a step.
func (p *demoPage) waitSteps(step string, n int) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d %q steps", n, step), `document.querySelectorAll('#log li[data-step=`+jsString(step)+`]').length >= `+fmt.Sprint(n))
}

// checkFlow asserts that the log shows want in this order, other entries
// in between.
func (p *demoPage) checkFlow(want []flowStep) {
	p.t.Helper()
	got := p.steps()
	i := 0
	for _, s := range got {
		if i < len(want) && s.Step == want[i].Step && strings.Contains(s.What, want[i].What) && strings.Contains(s.Detail, want[i].Detail) {
			i++
		}
	}
	if i < len(want) {
		var b strings.Builder
		for _, s := range got {
			fmt.Fprintf(&b, "  %-10s %s\n", s.Step, s.What)
		}
		p.t.Errorf("%s: flow log lacks %+v (and what follows it); it holds:\n%s", p.name, want[i], &b)
	}
}

func (p *demoPage) value(id string) string {
	p.t.Helper()
	return evaluate[string](p.t, p.tab, `document.getElementById(`+jsString(id)+`).value`)
}

// checkNoSecrets asserts that the page shows no whole access token and no
// whole ticket.
func (p *demoPage) checkNoSecrets() {
	p.t.Helper()
	text := evaluate[string](p.t, p.tab, `document.body.innerText + [...document.querySelectorAll("pre")].map(e => e.textContent).join("\n")`)
	jwt := regexp.MustCompile(`eyJ[\w-]+\.[\w-]+\.[\w-]+`)
	ticket := regexp.MustCompile(`ticket[ =][\w-]{16,}`)
	if s := jwt.FindString(text) + ticket.FindString(text); s != "" {
		p.t.Errorf("%s: the page shows a whole secret: %s", p.name, s)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Messages of the conversation in TestDemoChatInBrowser; the first has what
// header escaping and content-length must carry.
const (
	hiAlice            = "hi Alice: ünïcode, colons: and \\backslashes"
	stillHere          = "still here after my first token expired"
	typedDuringRestart = "typed while the server was away"
	whileBobIsAway     = "sent while Bob is still away"
)

// TestDemoChatInBrowser is the demo as people use it: Alice and Bob in two
// browser contexts chat in a room, Alice sends Bob a direct message, both
// outlive their first access token by refreshing in band, both come back
// after the server restarts with the room and the typed text kept, Bob
// (back later than Alice) gets what she sent meanwhile from the room's
// history, and Bob logs out.
func TestDemoChatInBrowser(t *testing.T) {
	// With 8 s access tokens the page refreshes at 6 s and again at 12 s,
	// after its first token has expired.
	browser := newBrowser(t)
	srv := startDemo(t, "8s")
	alice := openDemo(t, browser, srv, "alice@example.com")
	bob := openDemo(t, browser, srv, "bob@example.com")
	alice.screenshot("demo-login-1280")
	alice.logIn(srv)
	bob.logIn(srv)

	const room = "blue-room"
	chatInRoom(t, room, alice, bob)
	directMessage(t, alice, bob)
	alice.screenshot("demo-alice-1280")
	bob.screenshot("demo-bob-1280")
	bob.do("narrowing the window", chromedp.EmulateViewport(400, 900))
	bob.screenshot("demo-bob-400")
	bob.do("widening the window", chromedp.ResetViewport())

	outliveFirstToken(t, alice, bob)
	alice.checkFlow([]flowStep{
		{"login", `POST /auth/login {"email":"alice@example.com","password":"…","use_cookie":true}`, ""},
		{"token", "200, refresh token set as HttpOnly cookie: access token eyJ", `"token_use": "access"`},
		{"ticket", "POST /auth/ticket, Authorization: Bearer eyJ", ""},
		{"ticket", "200: ticket", ""},
		{"upgrade", "GET /ws?ticket=", ""},
		{"upgrade", "101 Switching Protocols, subprotocol v12.stomp", ""},
		{"connect", "→ CONNECT", "Authorization:Bearer eyJ"},
		{"connected", "← CONNECTED", "version:1.2"},
		{"subscribe", "→ SUBSCRIBE /user/queue/dm", ""},
		{"subscribe", "→ SUBSCRIBE /topic/room." + room, "x-stream-offset:first"},
		{"receipt", "← RECEIPT", "x-recovered:true"},
		{"subscribe", "→ SUBSCRIBE /presence/topic/room." + room, ""},
		{"send", "→ SEND /topic/room." + room, "Authorization:Bearer eyJ"},
		{"token", "lifetime 8 s; refresh in 6 s", ""},
		{"refresh", "POST /auth/refresh", ""},
		{"token", "200, cookie rotated", ""},
		{"send", "→ SEND /sys/auth/refresh", "Authorization:Bearer eyJ"},
		{"receipt", "← RECEIPT", ""},
		{"refreshed", "no reconnect", ""},
	})

	surviveRestart(t, srv, room, alice, bob)
	alice.checkFlow([]flowStep{
		{"error", "← ERROR", "code:server-shutdown"},
		{"closed", "connection closed", ""},
		{"reconnect", "attempt 1", ""},
		{"error", "failed: ", ""},
		{"reconnect", "attempt 2", ""},
		{"refresh", "POST /auth/refresh", ""},
		{"ticket", "200: ticket", ""},
		{"connected", "← CONNECTED", ""},
		{"subscribe", "→ SUBSCRIBE /topic/room." + room, "x-stream-offset:offset="},
		{"history", "recovered 0 messages of #" + room, ""},
		{"subscribe", "→ SUBSCRIBE /presence/topic/room." + room, ""},
		{"send", "→ SEND /topic/room." + room, ""},
	})
	bob.checkFlow([]flowStep{
		{"connected", "← CONNECTED", ""},
		{"subscribe", "→ SUBSCRIBE /topic/room." + room, "x-stream-offset:offset="},
		{"history", "recovered 2 messages of #" + room, ""},
	})

	// Every message once, in order, on both pages.
	a, b := alice.email, bob.email
	alice.checkTranscript([]chatLine{
		{"mine", a, "hello Bob"}, {"room", b, hiAlice}, {"dm-out", a, "just between us"},
		{"mine", a, stillHere}, {"mine", a, typedDuringRestart}, {"mine", a, whileBobIsAway},
	})
	bob.checkTranscript([]chatLine{
		{"room", a, "hello Bob"}, {"mine", b, hiAlice}, {"dm-in", a, "just between us"},
		{"room", a, stillHere}, {"room", a, typedDuringRestart}, {"room", a, whileBobIsAway},
	})

	bob.do("logging out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	alice.waitFor("Bob to leave", `[...document.querySelectorAll("#messages .system")].some(li => li.textContent === `+jsString(bob.name+" left")+`)`)
	bob.checkFlow([]flowStep{{"logout", "POST /auth/logout", ""}})
	for _, p := range []*demoPage{alice, bob} {
		p.checkNoSecrets()
	}
}

// chatInRoom has both pages join room and talk both ways.
func chatInRoom(t *testing.T, room string, alice, bob *demoPage) {
	t.Helper()
	for _, p := range []*demoPage{alice, bob} {
		p.do("joining "+room,
			chromedp.SetValue(chromedp.ID("room"), room),
			chromedp.Click(chromedp.CSS("#room-form button")),
		)
	}
	alice.waitPeer(bob)
	bob.waitPeer(alice)
	alice.say("hello Bob")
	bob.waitLine(chatLine{"room", alice.email, "hello Bob"})
	alice.waitLine(chatLine{"mine", alice.email, "hello Bob"})
	bob.say(hiAlice)
	alice.waitLine(chatLine{"room", bob.email, hiAlice})
}

// directMessage has Alice pick Bob among the people in the room (whose id
// is his token's sub) and write to him alone.
func directMessage(t *testing.T, alice, bob *demoPage) {
	t.Helper()
	bobID := evaluate[string](t, bob.tab, `document.getElementById("me-id").textContent`)
	alice.do("choosing Bob", chromedp.Click(chromedp.CSS("#people .person")))
	if got := alice.value("target"); got != bobID || bobID == "" {
		t.Errorf("direct message target %q, Bob's id %q", got, bobID)
	}
	alice.say("just between us")
	bob.waitLine(chatLine{"dm-in", alice.email, "just between us"})
	alice.waitLine(chatLine{"dm-out", alice.email, "just between us"})
	alice.do("choosing the room again", chromedp.SetValue(chromedp.ID("target"), ""))
}

// outliveFirstToken waits for the second in-band refresh, which comes after
// the first token's exp, and checks that the first connection still serves.
func outliveFirstToken(t *testing.T, alice, bob *demoPage) {
	t.Helper()
	for _, p := range []*demoPage{alice, bob} {
		p.waitSteps("refreshed", 2)
		if n := p.count("connected"); n != 1 {
			t.Errorf("%s: %d CONNECTED frames, want 1 (no reconnect)", p.name, n)
		}
	}
	alice.say(stillHere)
	bob.waitLine(chatLine{"room", alice.email, stillHere})
}

// surviveRestart stops the server while Alice is typing and starts it
// again once her first attempt to reconnect has failed. Bob's page stays
// away (its requests to /auth are blocked) while Alice sends two messages,
// then comes back: the room's history, kept across the graceful restart,
// brings him both.
func surviveRestart(t *testing.T, srv *demoServer, room string, alice, bob *demoPage) {
	t.Helper()
	alice.do("typing", chromedp.SendKeys(chromedp.ID("text"), typedDuringRestart))
	alice.expectServerDown()
	bob.expectServerDown()
	bob.blockAuth(true)
	srv.stop()
	alice.waitSteps("reconnect", 2)
	srv.start()
	alice.waitConnected()
	alice.waitSteps("connected", 2)
	if got := alice.value("text"); got != typedDuringRestart {
		t.Errorf("text box after the reconnect: %q", got)
	}
	if got := alice.value("room"); got != room {
		t.Errorf("room after the reconnect: %q", got)
	}
	alice.sendTyped()
	alice.say(whileBobIsAway)
	alice.waitLine(chatLine{"mine", alice.email, typedDuringRestart})
	alice.waitLine(chatLine{"mine", alice.email, whileBobIsAway})

	bob.blockAuth(false)
	bob.waitConnected()
	bob.waitSteps("connected", 2)
	alice.waitPeer(bob)
	bob.waitLine(chatLine{"room", alice.email, typedDuringRestart})
	bob.waitLine(chatLine{"room", alice.email, whileBobIsAway})
}
