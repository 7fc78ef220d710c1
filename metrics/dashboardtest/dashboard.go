package dashboardtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
)

// Dashboard is the part of a Grafana dashboard model the tests read.
type Dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is a panel or a row.
type Panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *DatasourceRef `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Targets    []Target `json:"targets"`
	// Panels holds the panels of a collapsed row.
	Panels []Panel `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *DatasourceRef `json:"datasource"`
}

// DatasourceRef names a data source.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is a template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *DatasourceRef  `json:"datasource"`
}

// Query is one PromQL expression of the dashboard and where it comes from.
type Query struct {
	Where string // panel title and refId, or variable name
	Expr  string
	Label string // for a variable, the label its series must carry
}

// Load reads the dashboard at path.
func Load(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := new(Dashboard)
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// AllPanels returns every panel, those inside collapsed rows included.
func (d *Dashboard) AllPanels() []Panel {
	var ps []Panel
	for _, p := range d.Panels {
		ps = append(ps, p)
		ps = append(ps, p.Panels...)
	}
	return ps
}

// Queries returns every panel target's expression.
func (d *Dashboard) Queries() []Query {
	var qs []Query
	for _, p := range d.AllPanels() {
		for _, tg := range p.Targets {
			qs = append(qs, Query{Where: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), Expr: tg.Expr})
		}
	}
	return qs
}

// labelValuesQuery matches a Prometheus template variable query.
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// VariableQueries returns the query variables' label_values(selector,
// label) as the selector and the label it must carry. The error names
// every query variable that is not of that form.
func (d *Dashboard) VariableQueries() ([]Query, error) {
	var qs []Query
	var errs []error
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			errs = append(errs, fmt.Errorf("variable %s: query %s is not a string: %v", v.Name, v.Query, err))
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil || v.Definition != q {
			errs = append(errs, fmt.Errorf("variable %s: query %q (definition %q) is not label_values(selector, label)", v.Name, q, v.Definition))
			continue
		}
		qs = append(qs, Query{Where: "variable " + v.Name, Expr: m[1], Label: m[2]})
	}
	return qs, errors.Join(errs...)
}

// grafanaVariable matches $name and ${name} references.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// Expand replaces the Grafana variables in expr with vars, failing on any
// variable vars does not know.
func Expand(expr string, vars map[string]string) (string, error) {
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

// Vars returns what the dashboard's own variables and Grafana's built-in
// ones stand for, with job the scrape job's name.
func Vars(job string) map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__range":         "1m",
		"job":             job,
		"instance":        ".*",
	}
}
