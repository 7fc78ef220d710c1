//go:build faults

package main

import (
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// faultPhaseEnv sets the length of each phase of TestClusterFaultsUnderLoad
// (a Go duration; 10s by default).
const faultPhaseEnv = "STOMPD_FAULTS_PHASE"

// TestClusterFaultsUnderLoad runs the cluster fault scenario: Redis and
// three nodes under topic and queue traffic, Redis killed and restarted,
// then a node; it prints the ledger by phase. Every phase must show no
// duplicate, no message out of order, every receipted queue message acked
// once; phases in which nothing dies, every receipted topic message
// delivered to every subscriber.
func TestClusterFaultsUnderLoad(t *testing.T) {
	each := 10 * time.Second
	if v := os.Getenv(faultPhaseEnv); v != "" {
		var err error
		if each, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s: %v", faultPhaseEnv, err)
		}
	}
	c := startFaultCluster(t, 3, 100000)
	n, _ := c.node(0)
	var phase atomic.Int32
	tr := newFaultTraffic(t, c, &phase, n.login(t, c.users["ada"]).Access)
	tr.start()
	faults := c.runPhases(t, clusterFaultPhases, each, &phase)
	start := time.Now()
	tr.stop(60 * time.Second)
	t.Logf("settled %v after the last phase", time.Since(start).Round(time.Millisecond))
	tr.check(clusterFaultPhases, faults)
}
