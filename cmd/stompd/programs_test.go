package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needProgram returns the path of the program name. Without it the test
// is skipped, except under CI=true, where .ci/run installs it and its
// absence is a failure; install says how to get it.
func needProgram(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " not found (" + install + "): " + t.Name() + " needs it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// buildStatic builds cmd/stompd as a release is built, static and with
// the version set at link time, into a file named stompd in dir, and
// returns its path.
func buildStatic(t *testing.T, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, "stompd")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X main.version="+version, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
