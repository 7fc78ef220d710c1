package main

import (
	"os"
	"strings"
	"testing"
)

// childArgsEnv, when set, makes the test binary run stompd itself with
// these arguments (separated by spaces), so tests can start, kill and
// restart a real server process.
const childArgsEnv = "STOMPD_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
