package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/metrics"
)

// lister answers ListSessions with list or err, and records the queries.
type lister struct {
	list    SessionList
	err     error
	queries []SessionQuery
}

func (l *lister) ListSessions(_ context.Context, q SessionQuery) (SessionList, error) {
	l.queries = append(l.queries, q)
	return l.list, l.err
}

// getSessions does GET path on h with authorization, and returns the
// status and the body.
func getSessions(h http.Handler, path, authorization string) (int, string) {
	w := serve(h, path, authorization)
	return w.Code, w.Body.String()
}

// TestSessionsQuery checks the parameters of GET /admin/sessions: the
// defaults, user and limit handed to the lister, and every bad one
// refused with 400 and a message naming it, counted.
func TestSessionsQuery(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	l := &lister{}
	h := New(Options{Metrics: m, Sessions: l}).Local()
	for _, c := range []struct {
		query string
		want  SessionQuery
	}{
		{"", SessionQuery{Limit: DefaultSessionLimit}},
		{"?user=u-1", SessionQuery{User: "u-1", Limit: DefaultSessionLimit}},
		{"?limit=1&user=u%2F2", SessionQuery{User: "u/2", Limit: 1}},
		{"?limit=10000", SessionQuery{Limit: MaxSessionLimit}},
	} {
		l.queries = nil
		if status, body := getSessions(h, "/admin/sessions"+c.query, ""); status != http.StatusOK || len(l.queries) != 1 || l.queries[0] != c.want {
			t.Errorf("GET /admin/sessions%s: %d %s, queries %+v; want 200 and %+v", c.query, status, body, l.queries, c.want)
		}
	}
	bad := map[string]string{
		"?limit=0": "limit", "?limit=10001": "limit", "?limit=ten": "limit", "?limit=-1": "limit",
		"?user=a&user=b": "user", "?node=n1": "node", "?limit=1&limit=2": "limit",
	}
	for query, names := range bad {
		status, body := getSessions(h, "/admin/sessions"+query, "")
		var e Error
		json.Unmarshal([]byte(body), &e)
		if status != http.StatusBadRequest || e.Code != "invalid_request" || !strings.Contains(e.Message, names) {
			t.Errorf("GET /admin/sessions%s: %d %s, want 400 invalid_request naming %s", query, status, body, names)
		}
	}
	if got := testutil.ToFloat64(m.AdminRequests.WithLabelValues("sessions.list", "invalid_request")); got != float64(len(bad)) {
		t.Errorf("admin_requests_total{sessions.list,invalid_request} = %v, want %d", got, len(bad))
	}
}

// TestSessionsAnswer checks the answer's shape: every field under its
// JSON name, truncated when the total exceeds the rows, empty lists as
// [] rather than null; and that a lister's failure is its status.
func TestSessionsAnswer(t *testing.T) {
	iss := newIssuer(t)
	since := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	l := &lister{list: SessionList{
		Sessions: []Session{{User: "u1", Name: "Ada", SID: "f1", Transport: "ws", TLS: true, Remote: "192.0.2.1", Node: "n1", Since: since, Subscriptions: 2}},
		Total:    3, Nodes: []string{"n1"},
	}}
	api := New(Options{Verifier: iss.svc, Metrics: metrics.New(prometheus.NewRegistry()), Sessions: l})
	status, body := getSessions(api.Handler(), "/admin/sessions?limit=1", "Bearer "+iss.token(t, "a1", Role))
	want := `{"sessions":[{"user":"u1","name":"Ada","sid":"f1","transport":"ws","tls":true,"remote":"192.0.2.1","node":"n1",` +
		`"since":"2026-12-07T14:00:00Z","subscriptions":2}],"total":3,"truncated":true,"nodes":["n1"],"missing":[]}`
	if status != http.StatusOK || strings.TrimSpace(body) != want {
		t.Errorf("GET /admin/sessions: %d\n%s\nwant 200\n%s", status, body, want)
	}
	l.list = SessionList{}
	if _, body := getSessions(api.Local(), "/admin/sessions", ""); strings.TrimSpace(body) != `{"sessions":[],"total":0,"truncated":false,"nodes":[],"missing":[]}` {
		t.Errorf("nothing to list: %s", body)
	}
	l.err = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "Redis is unavailable"}
	if status, body := getSessions(api.Local(), "/admin/sessions", ""); status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Errorf("lister failing: %d %s, want 503 unavailable", status, body)
	}
	l.err = errors.New("boom")
	if status, body := getSessions(api.Local(), "/admin/sessions", ""); status != http.StatusInternalServerError || strings.Contains(body, "boom") {
		t.Errorf("lister failing otherwise: %d %s, want 500 without the details", status, body)
	}
}

// TestSessionsNotServedWithoutALister checks that an API without a
// SessionLister has no /admin/sessions.
func TestSessionsNotServedWithoutALister(t *testing.T) {
	h := New(Options{Metrics: metrics.New(prometheus.NewRegistry())}).Local()
	if status, _ := getSessions(h, "/admin/sessions", ""); status != http.StatusNotFound {
		t.Errorf("GET /admin/sessions without a lister: %d, want 404", status)
	}
}
