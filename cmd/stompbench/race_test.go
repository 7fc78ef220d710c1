//go:build race

package main

// raceEnabled reports a build with the race detector, which makes the
// client's reading several times slower.
const raceEnabled = true
