package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// childArgsEnv, when set, makes the test binary run stompd itself with
// these arguments (separated by spaces), so tests can start, kill and
// restart a real server process.
const childArgsEnv = "STOMPD_TEST_CHILD_ARGS"

// testKeyPublishDelay is how long after a rotation the new key signs in
// the servers and key commands of tests, in this process and in child
// processes: long enough to see the key published first, short enough
// not to wait for it long.
const testKeyPublishDelay = 2 * time.Second

func TestMain(m *testing.M) {
	keyPublishDelay = testKeyPublishDelay
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
