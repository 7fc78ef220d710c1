package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsFlowOneWay keeps the package layout of STYLE.md: stomp,
// metrics, persist, auth/edge (the HTTP edge) and auth/idptest (a test
// identity provider) import nothing of stompd's; broker only stomp and metrics; auth only metrics and its edge,
// since the broker hands it plain values, not frames; auth/redisstore only
// auth (and so what auth imports), auth/admin likewise, never the broker
// or the stores, which it reaches through interfaces; only cmd/stompd
// wires them all together. A package's own internal packages are part of
// it, and what they import is held to the same rule.
func TestImportsFlowOneWay(t *testing.T) {
	const module = "github.com/stompd/stompd/"
	for pkg, allowed := range map[string][]string{
		"stomp":                nil,
		"metrics":              nil,
		"persist":              nil,
		"broker":               {"stomp", "metrics"},
		"auth":                 {"metrics", "auth/edge"},
		"auth/edge":            nil,
		"auth/idptest":         nil,
		"auth/redisstore":      {"auth", "metrics", "auth/edge"},
		"auth/admin":           {"auth", "metrics", "auth/edge"},
		"cmd/stompbench":       {"stomp"},
		"broker/redisbus":      {"broker", "broker/internal/sockjs", "stomp", "metrics"},
		"broker/redisqueue":    {"broker", "broker/internal/sockjs", "stomp", "metrics"},
		"broker/redispresence": {"broker", "broker/internal/sockjs", "stomp", "metrics"},
		"broker/redissessions": {"broker", "broker/internal/sockjs", "stomp", "metrics"},
	} {
		out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			name, internal := strings.CutPrefix(dep, module)
			own := name == pkg || strings.HasPrefix(name, pkg+"/internal/")
			if internal && !own && !slices.Contains(allowed, name) {
				t.Errorf("%s imports %s", pkg, name)
			}
		}
	}
}
