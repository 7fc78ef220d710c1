package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAdminWrongMethodIs405 sends each admin path a method it does not
// take: 405 method_not_allowed with an Allow header of the methods it
// takes, counted; a path no action has stays 404.
func TestAdminWrongMethodIs405(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	root := ts.login(t, "root").Access
	id := ts.users["ada"].id
	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/admin/users/" + id, 405, "method_not_allowed", "GET, PATCH, DELETE"},
		{"DELETE", "/admin/users", 405, "method_not_allowed", "GET, POST"},
		{"POST", "/admin/sessions", 405, "method_not_allowed", "GET"},
		{"GET", "/admin/keys/rotate", 405, "method_not_allowed", "POST"},
		{"GET", "/admin/users/" + id + "/logout", 405, "method_not_allowed", "POST"},
		{"GET", "/admin/nothing", 404, "not_found", ""},
	} {
		var e apiError
		resp := httpJSON(t, c.method, ts.url+c.path, nil, &e, "Authorization", "Bearer "+root)
		if resp.StatusCode != c.status || e.Error != c.code || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %+v, Allow %q; want %d %s, Allow %q", c.method, c.path, resp.StatusCode, e, resp.Header.Get("Allow"), c.status, c.code, c.allow)
		}
		if c.status == http.StatusMethodNotAllowed && !strings.Contains(e.Message, "takes "+c.allow) {
			t.Errorf("%s %s: message %q does not say which methods the path takes", c.method, c.path, e.Message)
		}
	}
	if got := testutil.ToFloat64(ts.metrics.AdminRequests.WithLabelValues("unknown", "method_not_allowed")); got != 5 {
		t.Errorf("admin_requests_total{action=unknown,result=method_not_allowed} = %v, want 5", got)
	}
}
