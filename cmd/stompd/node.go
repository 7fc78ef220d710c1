package main

import (
	"crypto/rand"
	"encoding/hex"
)

// newNodeID names this process among the nodes of a cluster: 12 random hex
// digits, made anew at every start, so that a restarted node is a new
// member and the engines can tell its keys and consumers from those of
// the process it replaced.
func newNodeID() string {
	b := make([]byte, 6)
	rand.Read(b) // never fails: crypto/rand panics instead of returning an error
	return hex.EncodeToString(b)
}
