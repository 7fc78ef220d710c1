package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
)

// dashboardFile is the Grafana dashboard that ships with stompd.
const dashboardFile = "dashboard.json"

// datasourceUID is how every panel and query names its data source: the
// dashboard's datasource variable, so that importing it asks for one.
const datasourceUID = "${datasource}"

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Targets    []target `json:"targets"`
	// Panels holds the panels of a collapsed row.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
}

// query is one PromQL expression of the dashboard and where it comes from.
type query struct {
	where string // panel title and refId, or variable name
	expr  string
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	d := new(dashboard)
	if err := json.Unmarshal(b, d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels returns every panel, those inside collapsed rows included.
func (d *dashboard) allPanels() []panel {
	var ps []panel
	for _, p := range d.Panels {
		ps = append(ps, p)
		ps = append(ps, p.Panels...)
	}
	return ps
}

// queries returns every panel target's expression.
func (d *dashboard) queries() []query {
	var qs []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			qs = append(qs, query{where: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), expr: tg.Expr})
		}
	}
	return qs
}

// labelValuesQuery matches a Prometheus template variable query.
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// variableQueries returns the query variables' label_values(selector, label)
// as the selector and the label it must carry.
func (d *dashboard) variableQueries(t *testing.T) (qs []query, labels []string) {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query %s is not a string: %v", v.Name, v.Query, err)
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil || v.Definition != q {
			t.Errorf("variable %s: query %q (definition %q) is not label_values(selector, label)", v.Name, q, v.Definition)
			continue
		}
		qs = append(qs, query{where: "variable " + v.Name, expr: m[1]})
		labels = append(labels, m[2])
	}
	return qs, labels
}

// grafanaVariable matches $name and ${name} references.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// expand replaces the Grafana variables in expr with vars, failing on any
// variable vars does not know.
func expand(expr string, vars map[string]string) (string, error) {
	var unknown []string
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(ref string) string {
		name := grafanaVariable.FindStringSubmatch(ref)[1]
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, ref)
		}
		return v
	})
	if unknown != nil {
		return "", fmt.Errorf("unknown variables %v", unknown)
	}
	return out, nil
}

// dashboardVars returns what the dashboard's own variables and Grafana's
// built-in ones stand for, with job the scrape job's name.
func dashboardVars(job string) map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__range":         "1m",
		"job":             job,
		"instance":        ".*",
	}
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want both set and schemaVersion >= 36", d.UID, d.Title, d.SchemaVersion)
	}
	t.Run("datasource variable", func(t *testing.T) { checkDatasourceVariable(t, d) })
	t.Run("panels", func(t *testing.T) { checkPanels(t, d) })
	t.Run("layout", func(t *testing.T) { checkLayout(t, d) })
	t.Run("expressions", func(t *testing.T) { checkExpressions(t, d) })
	t.Run("every family shown", func(t *testing.T) { checkFamiliesShown(t, d) })
}

func checkDatasourceVariable(t *testing.T, d *dashboard) {
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			if v.Type != "datasource" || string(v.Query) != `"prometheus"` {
				t.Errorf("variable datasource: type %q query %s, want type datasource, query \"prometheus\"", v.Type, v.Query)
			}
			return
		}
	}
	t.Error("no datasource variable")
}

func checkPanels(t *testing.T, d *dashboard) {
	ids := map[int]string{}
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or already used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != datasourceUID || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets; want %s and at least one", p.Title, p.Datasource, len(p.Targets), datasourceUID)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != datasourceUID || strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q query %q: datasource %+v, expr %q; want %s, an expr and a refId", p.Title, tg.RefID, tg.Datasource, tg.Expr, datasourceUID)
			}
		}
	}
}

// checkLayout fails on panels that leave the 24-column grid or overlap.
func checkLayout(t *testing.T, d *dashboard) {
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v leaves the grid", p.Title, g)
			continue
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps panel %q at column %d, row %d", p.Title, other, x, y)
					return
				}
				taken[cell{x, y}] = p.Title
			}
		}
	}
}

// metricSelector matches a stompd, Go runtime or process metric and its
// label matchers.
var metricSelector = regexp.MustCompile(`\b((?:stompd|go|process)_[a-z_]+)(\{[^}]*\})?`)

// rangeSelector matches the duration of a range vector selector.
var rangeSelector = regexp.MustCompile(`\[([^\]]*)\]`)

func checkExpressions(t *testing.T, d *dashboard) {
	vars := dashboardVars("stompd")
	qs, _ := d.variableQueries(t)
	for _, q := range qs {
		if _, err := expand(q.expr, vars); err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
	}
	for _, q := range d.queries() {
		if _, err := expand(q.expr, vars); err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
		for _, m := range rangeSelector.FindAllStringSubmatch(q.expr, -1) {
			if m[1] != "$__rate_interval" {
				t.Errorf("%s: range [%s], want [$__rate_interval]", q.where, m[1])
			}
		}
		for _, m := range metricSelector.FindAllStringSubmatch(q.expr, -1) {
			if !strings.Contains(m[2], `job=~"$job"`) || !strings.Contains(m[2], `instance=~"$instance"`) {
				t.Errorf("%s: %s%s does not select $job and $instance", q.where, m[1], m[2])
			}
		}
	}
}

// checkFamiliesShown fails when a stompd family of the metrics package
// appears in no panel.
func checkFamiliesShown(t *testing.T, d *dashboard) {
	rec := new(recordingRegisterer)
	metrics.New(rec)
	var exprs strings.Builder
	for _, q := range d.queries() {
		exprs.WriteString(q.expr + "\n")
	}
	names := rec.familyNames()
	if len(names) == 0 {
		t.Fatal("metrics.New registered no stompd families")
	}
	for _, name := range names {
		if !strings.Contains(exprs.String(), name) {
			t.Errorf("family %s is on no panel", name)
		}
	}
}

// recordingRegisterer keeps what metrics.New registers, so that the test
// can list every family, even those without children yet.
type recordingRegisterer struct{ collectors []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }

// descName pulls the fully qualified name out of a Desc's String form; Desc
// has no accessor for it.
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// familyNames returns the names of the stompd_ families registered.
func (r *recordingRegisterer) familyNames() []string {
	var names []string
	for _, c := range r.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for desc := range ch {
			if m := descName.FindStringSubmatch(desc.String()); m != nil && strings.HasPrefix(m[1], "stompd_") {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestDashboardQueriesAgainstPrometheus runs the real stompd and a real
// Prometheus scraping it, drives a scripted workload, checks the counters
// it must leave and lints the exposition with promtool, then evaluates
// every panel and variable query of the dashboard: each must parse and
// return a series with a number.
func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	promBin := requireTool(t, "prometheus")
	promtool := requireTool(t, "promtool")
	d := loadDashboard(t)

	s := startStompd(t)
	begin := time.Now()
	prom := startPrometheus(t, promBin, s.httpAddr)
	// Rates and quantiles need a sample from before the workload.
	prom.waitForScrapesSince(t, begin, 1)
	runWorkload(t, s)

	raw, fams := s.settle(t)
	checkCounters(t, fams)
	checkPromtool(t, promtool, raw)

	prom.waitForScrapesSince(t, s.settledAt, 2)
	vars := dashboardVars(scrapeJob)
	for _, q := range d.queries() {
		if err := prom.expectSeries(q.expr, vars, ""); err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
	}
	qs, labels := d.variableQueries(t)
	for i, q := range qs {
		if err := prom.expectSeries(q.expr, vars, labels[i]); err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
	}
}
