//go:build faults

package main

import "testing"

// TestKillDuringAuthStorm kills stompd with SIGKILL at random moments of a
// login/refresh/logout storm, 20 rounds on one data dir, and checks after
// each restart that no answer a client got was lost or can be used twice.
func TestKillDuringAuthStorm(t *testing.T) {
	runKillStorm(t, 20)
}
