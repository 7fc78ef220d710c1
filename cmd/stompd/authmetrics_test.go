package main

import (
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// authFailures scrapes /metrics and returns stompd_auth_failures_total by
// "stage/reason".
func (ts *testServer) authFailures(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range fams["stompd_auth_failures_total"].GetMetric() {
		var stage, reason string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "stage":
				stage = l.GetValue()
			case "reason":
				reason = l.GetValue()
			}
		}
		if v := m.GetCounter().GetValue(); v != 0 {
			out[stage+"/"+reason] = v
		}
	}
	return out
}

// TestEveryAuthRefusalIsCounted refuses one request or frame at each stage,
// for each way it can be refused, through the whole server, and checks
// that stompd_auth_failures_total counted exactly that refusal once.
func TestEveryAuthRefusalIsCounted(t *testing.T) {
	rules := writeFile(t, "rules.toml", "[[rules]]\npattern = \"/topic/**\"\nread = true\nwrite = true\n")
	ts := startServer(t, "--config", rules)
	ada, bob := ts.login(t, "ada"), ts.login(t, "bob")
	const evil = "https://evil.example"
	upgrade := func(path string, origin string) {
		h := upgradeHeader()
		if origin != "" {
			h.Set("Origin", origin)
		}
		request(t, "GET", ts.url+path, h)
	}
	post := func(path string, header ...string) {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		request(t, "POST", ts.url+path, h)
	}
	frameRefused := func(access string, cmd stomp.Command, headers ...string) {
		p := ts.connectTCP(t, access)
		p.Send(cmd, "", headers...)
		p.Expect(stomp.ERROR)
	}
	tests := []struct {
		what, want string // want: stage/reason
		refuse     func()
	}{
		{"SUBSCRIBE to another user's destination", "subscribe/forbidden", func() {
			frameRefused(bob.Access, stomp.SUBSCRIBE, "id:1", "destination:/user/"+ts.users["ada"].id+"/queue/dm")
		}},
		{"SUBSCRIBE outside the rules", "subscribe/forbidden", func() {
			frameRefused(ada.Access, stomp.SUBSCRIBE, "id:1", "destination:/queue/jobs")
		}},
		{"SEND outside the rules", "send/forbidden", func() { frameRefused(ada.Access, stomp.SEND, "destination:/queue/jobs") }},
		{"SEND with another user's token", "send/subject_mismatch", func() {
			frameRefused(ada.Access, stomp.SEND, "destination:/topic/chat", "Authorization:Bearer "+bob.Access)
		}},
		{"CONNECT with a malformed token", "connect/malformed", func() {
			p := stomptest.Dial(t, ts.stompAddr)
			p.Send(stomp.CONNECT, "", "accept-version:1.2", "host:x", "Authorization:Bearer not.a.token")
			p.Expect(stomp.ERROR)
		}},
		{"upgrade with an unknown ticket", "upgrade/unknown", func() { upgrade("/ws?ticket=nope", "") }},
		{"upgrade from a foreign origin", "upgrade/origin", func() { upgrade("/ws?ticket=nope", evil) }},
		{"SockJS upgrade from a foreign origin", "upgrade/origin", func() { upgrade("/ws/1/a/websocket?ticket=nope", evil) }},
		{"SockJS info from a foreign origin", "upgrade/origin", func() {
			request(t, "GET", ts.url+"/ws/info", http.Header{"Origin": {evil}})
		}},
		{"ticket without a token", "ticket/missing", func() { post("/auth/ticket") }},
		{"ticket from a foreign origin", "ticket/origin", func() {
			post("/auth/ticket", "Origin", evil, "Authorization", "Bearer "+ada.Access)
		}},
		{"ticket by GET", "ticket/malformed", func() { request(t, "GET", ts.url+"/auth/ticket", nil) }},
		{"login with a wrong password", "login/bad_credentials", func() {
			httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": ts.users["ada"].email, "password": "wrong"}, nil)
		}},
		{"login from a foreign origin", "login/origin", func() { post("/auth/login", "Origin", evil) }},
		{"refresh with an unknown token", "refresh/unknown", func() {
			httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": "nope"}, nil)
		}},
		{"logout without a token", "logout/missing", func() { post("/auth/logout") }},
	}
	for _, tt := range tests {
		before := ts.authFailures(t)
		tt.refuse()
		if d := diff(before, ts.authFailures(t)); len(d) != 1 || d[tt.want] != 1 {
			t.Errorf("%s: counted as %v, want %s once", tt.what, d, tt.want)
		}
	}
}

// diff returns what grew from before to after.
func diff(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}
