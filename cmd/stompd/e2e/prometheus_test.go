package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"text/template"
	"time"

	"github.com/stompd/stompd/metrics/dashboardtest"
)

// scrapeJob is the job name Prometheus gives the stompd target.
const scrapeJob = "stompd"

// requireTool returns the path of an external program the test needs. A
// missing program skips the test on a developer's machine and fails it in
// CI (CI=true), where it means the CI image lacks a package.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (apt-get install prometheus): %v", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// promServer is a Prometheus child process scraping one stompd.
type promServer struct {
	base   string // http://127.0.0.1:port
	client *http.Client
}

// startPrometheus runs bin with a configuration scraping target's /metrics
// every second and waits until it is ready.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	writeConfig(t, cfg, target)
	addr := freeAddr(t)
	proc := startProcess(t, bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	p := &promServer{base: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	proc.waitHealthy(t, p.base+"/-/ready")
	return p
}

func writeConfig(t *testing.T, path, target string) {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "prometheus.yml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct{ Job, Target string }{scrapeJob, target}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sample is one series of an instant query's result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// value returns the sample's value; Prometheus sends it as a string.
func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// query evaluates expr at the current time through the HTTP API and
// returns its series; an expression that does not parse, fails to
// evaluate or is not an instant vector is an error.
func (p *promServer) query(expr string) ([]sample, error) {
	resp, err := p.client.Get(p.base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %s: HTTP %d: %w", expr, resp.StatusCode, err)
	}
	switch {
	case r.Status != "success":
		return nil, fmt.Errorf("query %s: %s: %s", expr, r.ErrorType, r.Error)
	case r.Data.ResultType != "vector":
		return nil, fmt.Errorf("query %s: result is a %s, want a vector", expr, r.Data.ResultType)
	}
	return r.Data.Result, nil
}

// expectSeries evaluates a dashboard expression with vars substituted and
// fails unless it returns at least one series with a number (not NaN) and,
// when label is set, a series carrying that label.
func (p *promServer) expectSeries(expr string, vars map[string]string, label string) error {
	e, err := dashboardtest.Expand(expr, vars)
	if err != nil {
		return err
	}
	series, err := p.query(e)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("query %s returned no series", e)
	}
	for _, s := range series {
		if !math.IsNaN(s.value()) && (label == "" || s.Metric[label] != "") {
			return nil
		}
	}
	if label != "" {
		return fmt.Errorf("query %s: no series has the label %s: %v", e, label, series)
	}
	return fmt.Errorf("query %s: every series is NaN: %v", e, series)
}

// waitForScrapesSince waits until Prometheus has scraped the stompd target
// successfully n times after since.
func (p *promServer) waitForScrapesSince(t *testing.T, since time.Time, n int) {
	t.Helper()
	var last string
	ok := poll(20*time.Second, 200*time.Millisecond, func() bool {
		window := time.Since(since).Milliseconds() + 1
		series, err := p.query(fmt.Sprintf(`sum_over_time(up{job=%q}[%dms])`, scrapeJob, window))
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprint(series)
		return len(series) == 1 && series[0].value() >= float64(n)
	})
	if !ok {
		t.Fatalf("Prometheus did not scrape stompd successfully %d times since %v: %s", n, since.Format(time.RFC3339Nano), last)
	}
}

// checkPromtool runs promtool check metrics on a scrape of /metrics and
// fails on every problem it reports.
func checkPromtool(t *testing.T, promtool string, metricsText []byte) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(metricsText)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
