package redistest

import (
	"strings"
	"testing"
)

func TestServerKillAndRestartKeepsAppendOnlyData(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if Ping(s.Addr) == nil {
		t.Fatal("server still answers after Kill")
	}
	s.Restart()
	if v, err := s.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k after restart = %q, %v; want v", v, err)
	}
}

func TestClusterOfThreeMasters(t *testing.T) {
	c := StartCluster(t, 3)
	info, err := c.Nodes[0].Do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("CLUSTER INFO = %q, %v; want 3 known nodes", info, err)
	}
	if u := c.URL(); strings.Count(u, "addr=") != 2 {
		t.Fatalf("URL %q: want two seed addr parameters", u)
	}
}
