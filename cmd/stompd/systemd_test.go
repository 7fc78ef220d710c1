package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitFile is the systemd unit that packaging ships.
const unitFile = "stompd.service"

// unitExecStart matches the unit's ExecStart line up to the binary.
var unitExecStart = regexp.MustCompile(`(?m)^ExecStart=(\S+)`)

// TestSystemdUnit checks cmd/stompd/stompd.service with systemd-analyze
// verify, which must print nothing, against a stompd built for it, and
// scores its hardening with systemd-analyze security, which must rate it
// "OK" (exposure 2.0 or less of 10).
func TestSystemdUnit(t *testing.T) {
	analyze := needProgram(t, "systemd-analyze", "apt-get install -y systemd")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildStatic(t, dir, "v0.0.0-systemd")
	if !unitExecStart.Match(unit) {
		t.Fatal("the unit has no ExecStart")
	}
	path := filepath.Join(dir, "stompd.service")
	writeFileAt(t, path, unitExecStart.ReplaceAll(unit, []byte("ExecStart="+bin)))

	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	help, _ := exec.Command(analyze, "security", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--offline") {
		t.Log("this systemd-analyze cannot score a unit file offline (systemd 252 or later can)")
		return
	}
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	score := regexp.MustCompile(`Overall exposure level for stompd.service: .*`).Find(out)
	if err != nil || score == nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
	t.Logf("%s", score)
}
