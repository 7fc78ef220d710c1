//go:build !race

package broker

// raceEnabled is false: see race_test.go.
const raceEnabled = false
