package metrics_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/metrics/dashboardtest"
)

// dashboardFile is the Grafana dashboard that ships with stompd.
const dashboardFile = "dashboard.json"

// datasourceUID is how every panel and query names its data source: the
// dashboard's datasource variable, so that importing it asks for one.
const datasourceUID = "${datasource}"

func loadDashboard(t *testing.T) *dashboardtest.Dashboard {
	t.Helper()
	d, err := dashboardtest.Load(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	return d
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

func checkDatasourceVariable(t *testing.T, d *dashboardtest.Dashboard) {
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

func checkPanels(t *testing.T, d *dashboardtest.Dashboard) {
	ids := map[int]string{}
	for _, p := range d.AllPanels() {
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
func checkLayout(t *testing.T, d *dashboardtest.Dashboard) {
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

func checkExpressions(t *testing.T, d *dashboardtest.Dashboard) {
	vars := dashboardtest.Vars("stompd")
	qs, err := d.VariableQueries()
	if err != nil {
		t.Error(err)
	}
	for _, q := range qs {
		if _, err := dashboardtest.Expand(q.Expr, vars); err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
	}
	for _, q := range d.Queries() {
		if _, err := dashboardtest.Expand(q.Expr, vars); err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
		for _, m := range rangeSelector.FindAllStringSubmatch(q.Expr, -1) {
			if m[1] != "$__rate_interval" {
				t.Errorf("%s: range [%s], want [$__rate_interval]", q.Where, m[1])
			}
		}
		for _, m := range metricSelector.FindAllStringSubmatch(q.Expr, -1) {
			if !strings.Contains(m[2], `job=~"$job"`) || !strings.Contains(m[2], `instance=~"$instance"`) {
				t.Errorf("%s: %s%s does not select $job and $instance", q.Where, m[1], m[2])
			}
		}
	}
}

// checkFamiliesShown fails when a stompd family of the metrics package
// appears in no panel.
func checkFamiliesShown(t *testing.T, d *dashboardtest.Dashboard) {
	rec := new(recordingRegisterer)
	metrics.New(rec)
	var exprs strings.Builder
	for _, q := range d.Queries() {
		exprs.WriteString(q.Expr + "\n")
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
