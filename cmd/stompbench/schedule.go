package main

import "math"

// schedule is a publisher's timetable at a set rate: message i (from 0)
// is due at startNs + i/rate seconds, rounded up to the nanosecond.
type schedule struct {
	startNs int64
	rate    float64 // messages per second, above 0
}

// at returns when message i is due.
func (s schedule) at(i uint64) int64 {
	return s.startNs + int64(math.Ceil(float64(i)*1e9/s.rate))
}

// dueBy returns how many messages are due by time ns: the first i whose
// at(i) is after ns. It agrees with at exactly, so a publisher woken at
// the time it asked for always finds its next message due.
func (s schedule) dueBy(ns int64) uint64 {
	if ns < s.startNs {
		return 0
	}
	i := uint64(float64(ns-s.startNs) * s.rate / 1e9)
	for i > 0 && s.at(i-1) > ns {
		i--
	}
	for s.at(i) <= ns {
		i++
	}
	return i
}
