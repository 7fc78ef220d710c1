package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The account the workload logs in with.
const (
	userEmail    = "alice@example.com"
	userPassword = "correct horse battery staple"
)

// stompdServer is a stompd child process built from this module.
type stompdServer struct {
	httpAddr, stompAddr string
	metricsAddr         string // where it serves /metrics, as deployments should: not on httpAddr
	client              *http.Client
	// settledAt is when the metrics last reached the state the workload
	// leads to.
	settledAt time.Time
}

// startStompd builds cmd/stompd, adds the workload's user to a new data
// dir and starts the server on free loopback ports, with /metrics on a
// listener of its own (--metrics) instead of the public one, a small
// pending-bytes bound (so that one slow consumer is cut) and refresh tokens
// that expire in seconds (so that the sweeper deletes one).
func startStompd(t *testing.T) *stompdServer {
	t.Helper()
	dir := t.TempDir()
	bin := buildStompd(t, dir)
	data := filepath.Join(dir, "data")
	run(t, bin, "user", "add", "--data", data, "--email", userEmail, "--password", userPassword)
	s := &stompdServer{httpAddr: freeAddr(t), stompAddr: freeAddr(t), metricsAddr: freeAddr(t), client: &http.Client{Timeout: 5 * time.Second}}
	proc := startProcess(t, bin,
		"--data", data,
		"--http", s.httpAddr,
		"--stomp", s.stompAddr,
		"--metrics", s.metricsAddr,
		"--max-pending-bytes", fmt.Sprint(maxPendingBytes),
		"--refresh-ttl", "2s",
		"--sweep-interval", "1s",
	)
	proc.waitHealthy(t, "http://"+s.httpAddr+"/readyz")
	return s
}

// buildStompd builds the stompd binary into dir from the module root.
func buildStompd(t *testing.T, dir string) string {
	t.Helper()
	gomod := strings.TrimSpace(string(run(t, "go", "env", "GOMOD")))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatal("go env GOMOD: not inside the stompd module")
	}
	bin := filepath.Join(dir, "stompd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/stompd")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/stompd: %v\n%s", err, out)
	}
	return bin
}

// run runs a command to completion and returns its standard output.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// checkNoPublicMetrics checks that the public HTTP listener answers
// /metrics with 404, since --metrics moved them.
func (s *stompdServer) checkNoPublicMetrics(t *testing.T) {
	t.Helper()
	resp, err := s.client.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on --http: %s, want 404 Not Found with --metrics", resp.Status)
	}
}

// families is a parsed scrape of /metrics.
type families map[string]*dto.MetricFamily

// scrape fetches /metrics from the metrics listener and parses it.
func (s *stompdServer) scrape() ([]byte, families, error) {
	resp, err := s.client.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	return raw, fams, err
}

// value sums the series of family name whose labels include labels (k, v
// pairs): a counter's or gauge's value, a histogram's count. found is false
// when no series matches.
func (f families) value(name string, labels ...string) (sum float64, found bool) {
	fam, ok := f[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		matched := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				matched = true
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// settle scrapes /metrics until the workload's asynchronous effects show:
// the slow consumer cut and its connection closed, the expired refresh
// token swept. It returns the last scrape, raw and parsed.
func (s *stompdServer) settle(t *testing.T) ([]byte, families) {
	t.Helper()
	var raw []byte
	var fams families
	var err error
	settled := poll(15*time.Second, 100*time.Millisecond, func() bool {
		raw, fams, err = s.scrape()
		if err != nil {
			return false
		}
		cut, _ := fams.value("stompd_slow_consumer_disconnects_total")
		tcp, _ := fams.value("stompd_connections", "transport", "tcp")
		swept, _ := fams.value("stompd_sweep_deleted_total", "kind", "refresh_token")
		return cut >= 1 && tcp <= 1 && swept >= 1
	})
	s.settledAt = time.Now()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	if !settled {
		t.Error("metrics did not settle: no slow-consumer disconnect, the slow consumer's connection still counted open, or no refresh token swept (see below)")
	}
	return raw, fams
}

// checkCounters compares the scrape after the workload with what the
// workload did. Where the label the server picks is not part of the
// contract (an auth failure's reason), the sum over it is checked.
func checkCounters(t *testing.T, fams families) {
	const sends = topicMessages + queueMessages + floodMessages
	tests := []struct {
		name     string
		labels   []string
		min, max float64
	}{
		{"stompd_connections_accepted_total", []string{"transport", "tcp"}, 2, 2},
		{"stompd_connections_accepted_total", []string{"transport", "websocket"}, 1, 1},
		{"stompd_connections", []string{"transport", "tcp"}, 1, 1},
		{"stompd_connections", []string{"transport", "websocket"}, 1, 1},
		{"stompd_frames_received_total", []string{"command", "CONNECT"}, 3, 3},
		{"stompd_frames_received_total", []string{"command", "SUBSCRIBE"}, 3, 3},
		{"stompd_frames_received_total", []string{"command", "SEND"}, sends, sends},
		{"stompd_frames_sent_total", []string{"command", "CONNECTED"}, 3, 3},
		{"stompd_frames_sent_total", []string{"command", "RECEIPT"}, 6, 6},
		{"stompd_frames_sent_total", []string{"command", "MESSAGE"}, topicMessages + queueMessages, sends},
		{"stompd_messages_published_total", []string{"kind", "topic"}, topicMessages + floodMessages, topicMessages + floodMessages},
		{"stompd_messages_published_total", []string{"kind", "queue"}, queueMessages, queueMessages},
		{"stompd_messages_published_total", []string{"kind", "user"}, 0, 0},
		{"stompd_messages_delivered_total", []string{"kind", "topic"}, topicMessages, topicMessages + floodMessages},
		{"stompd_messages_delivered_total", []string{"kind", "queue"}, queueMessages, queueMessages},
		{"stompd_subscriptions", nil, 2, 2},
		// /topic/chat has its subscriber; /topic/flood lost its only one
		// but keeps its history (a topic lives while it keeps messages).
		{"stompd_destinations", []string{"kind", "topic"}, 2, 2},
		{"stompd_history_messages", nil, topicMessages + 1, topicMessages + floodMessages},
		{"stompd_destinations", []string{"kind", "queue"}, 1, 1},
		{"stompd_queue_depth", nil, 0, 0},
		{"stompd_slow_consumer_disconnects_total", nil, 1, 1},
		// Sampled once per write batch: at least one, at most one per delivery.
		{"stompd_delivery_latency_seconds", nil, 1, sends},
		{"stompd_messages_dropped_total", []string{"reason", "slow_consumer"}, 1, floodMessages},
		{"stompd_auth_successes_total", []string{"stage", "login"}, 1, 1},
		{"stompd_auth_successes_total", []string{"stage", "ticket"}, 1, 1},
		{"stompd_auth_successes_total", []string{"stage", "upgrade"}, 1, 1},
		{"stompd_auth_successes_total", []string{"stage", "connect"}, 3, 3},
		{"stompd_auth_failures_total", []string{"stage", "login"}, 1, 1},
		{"stompd_auth_failures_total", []string{"stage", "upgrade"}, 1, 1},
		{"stompd_auth_failures_total", nil, 2, 2},
		{"stompd_ticket_upgrade_seconds", nil, 1, 1},
		{"stompd_admin_requests_total", []string{"action", "refused", "result", "forbidden"}, 1, 1},
		{"stompd_admin_requests_total", nil, 1, 1},
		{"stompd_ready", nil, 1, 1},
		{"stompd_signing_keys", nil, 1, 1},
		{"stompd_refresh_tokens", nil, 0, 0},
		{"stompd_sweep_deleted_total", []string{"kind", "refresh_token"}, 1, 1},
		{"stompd_sweep_duration_seconds", nil, 1, 1e9},
	}
	for _, tc := range tests {
		t.Run(tc.name+"{"+strings.Join(tc.labels, "=")+"}", func(t *testing.T) {
			got, found := fams.value(tc.name, tc.labels...)
			if !found && tc.max > 0 {
				t.Fatalf("no series of %s with labels %v; the family has %s", tc.name, tc.labels, fams.describe(tc.name))
			}
			if got < tc.min || got > tc.max {
				t.Errorf("%s%v = %v, want %s; the family has %s", tc.name, tc.labels, got, span(tc.min, tc.max), fams.describe(tc.name))
			}
		})
	}
}

func span(lo, hi float64) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("between %v and %v", lo, hi)
}

// describe lists a family's non-zero series, for failure messages.
func (f families) describe(name string) string {
	fam, ok := f[name]
	if !ok {
		return "no series at all"
	}
	var lines []string
	for _, m := range fam.GetMetric() {
		var kv []string
		for _, lp := range m.GetLabel() {
			kv = append(kv, lp.GetName()+"="+lp.GetValue())
		}
		v, _ := families{name: &dto.MetricFamily{Metric: []*dto.Metric{m}}}.value(name)
		if v != 0 {
			lines = append(lines, fmt.Sprintf("{%s} %v", strings.Join(kv, ","), v))
		}
	}
	sort.Strings(lines)
	if lines == nil {
		return "only zero series"
	}
	return strings.Join(lines, "; ")
}
