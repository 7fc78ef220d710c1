//go:build faults

package main

import "testing"

// TestDiskFull fills the data dir's disk under a running stompd 5 times:
// each time logins, refreshes, logouts, user add and persistent SENDs
// fail cleanly (503 unavailable, or an ERROR frame) once the store cannot
// grow, nothing half-done is stored, reads go on, and service comes back
// without a restart when the disk has room again; at the end the store
// checks sound and a restart delivers every persistent message that got a
// RECEIPT.
func TestDiskFull(t *testing.T) {
	runDiskFull(t, 5, true)
}
