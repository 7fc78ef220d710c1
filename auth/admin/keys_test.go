package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/metrics"
)

// fixedRing answers every call with ring and err.
type fixedRing struct {
	ring auth.KeyRing
	err  error
}

func (f fixedRing) RotateKey() (auth.KeyRing, error)   { return f.ring, f.err }
func (f fixedRing) SigningKeys() (auth.KeyRing, error) { return f.ring, f.err }

func TestKeyActionsAnswerTheRingOrWhyThereIsNone(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ring := auth.KeyRing{KID: "old", Next: "new", Keys: []auth.KeyInfo{{KID: "new", Created: at, SignsFrom: at.Add(15 * time.Second)}, {KID: "old", Created: at.Add(-time.Hour), VerifyUntil: at.Add(15*time.Minute + 25*time.Second)}}}
	const ringJSON = `{"kid":"old","next":"new","keys":[{"kid":"new","created":"2026-03-01T12:00:00Z","signs_from":"2026-03-01T12:00:15Z"},{"kid":"old","created":"2026-03-01T11:00:00Z","verify_until":"2026-03-01T12:15:25Z"}]}` + "\n"
	cases := []struct {
		name, method, path string
		keys               fixedRing
		status             int
		body               string
	}{
		{"list", http.MethodGet, "/admin/keys", fixedRing{ring: ring}, http.StatusOK, ringJSON},
		{"rotate", http.MethodPost, "/admin/keys/rotate", fixedRing{ring: ring}, http.StatusOK, ringJSON},
		{"rotate HS256", http.MethodPost, "/admin/keys/rotate", fixedRing{err: auth.ErrNoKeyRing}, http.StatusConflict,
			`{"error":"no_key_rotation","message":"this server keeps no signing keys to rotate"}` + "\n"},
		{"rotate while one is pending", http.MethodPost, "/admin/keys/rotate", fixedRing{err: auth.ErrRotationPending}, http.StatusConflict,
			`{"error":"rotation_pending","message":"a rotation is already pending"}` + "\n"},
		{"rotate by GET", http.MethodGet, "/admin/keys/rotate", fixedRing{ring: ring}, http.StatusMethodNotAllowed,
			`{"error":"method_not_allowed","message":"GET /admin/keys/rotate: this endpoint takes POST"}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := metrics.New(prometheus.NewRegistry())
			api := New(Options{Keys: c.keys, Metrics: m})
			w := httptest.NewRecorder()
			api.Local().ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
			if w.Code != c.status || c.body != "" && w.Body.String() != c.body {
				t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, w.Code, w.Body, c.status, c.body)
			}
		})
	}
	m := metrics.New(prometheus.NewRegistry())
	api := New(Options{Keys: fixedRing{err: auth.ErrNoKeyRing}, Metrics: m})
	api.Local().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/admin/keys/rotate", nil))
	if n := testutil.ToFloat64(m.AdminRequests.WithLabelValues("keys.rotate", "no_key_rotation")); n != 1 {
		t.Errorf("admin_requests_total{action=keys.rotate,result=no_key_rotation} = %v, want 1", n)
	}
}
