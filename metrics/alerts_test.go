package metrics_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"github.com/stompd/stompd/metrics"
)

// alertsFile holds the alerting rules that ship with stompd, and
// alertsTestFile their promtool test.
const (
	alertsFile     = "alerts.yml"
	alertsTestFile = "testdata/alerts_test.yml"
)

// TestAlertRules checks the rules with promtool check rules and runs
// their test, which fires each alert from some series and not from
// others. promtool comes with Debian's prometheus package.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		const msg = "promtool not found (apt-get install -y prometheus): the alerting rules' tests need it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertsTestFile}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

var (
	alertName   = regexp.MustCompile(`(?m)^\s*- alert: (\w+)$`)
	stompdName  = regexp.MustCompile(`\bstompd_[a-z_]+`)
	firesInTest = regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:`)
)

// TestAlertsNameRealFamilies fails when a rule names a stompd metric that
// metrics.New does not register (a typo, or a family renamed since), or
// when the test fires no alert of some rule.
func TestAlertsNameRealFamilies(t *testing.T) {
	rules, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	rec := new(recordingRegisterer)
	metrics.New(rec)
	families := rec.familyNames()
	for _, name := range stompdName.FindAllString(string(rules), -1) {
		if !slices.Contains(families, name) {
			t.Errorf("%s names %s, which metrics.New does not register", alertsFile, name)
		}
	}
	fired := map[string]bool{}
	for _, m := range firesInTest.FindAllStringSubmatch(string(tests), -1) {
		fired[m[1]] = true
	}
	alerts := alertName.FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatalf("%s has no alert", alertsFile)
	}
	for _, m := range alerts {
		if !fired[m[1]] {
			t.Errorf("%s fires no %s", alertsTestFile, m[1])
		}
	}
}
