package main

import (
	"strings"
	"testing"

	"github.com/stompd/stompd/broker"
)

// TestEndToEndStall stalls 1 of 4 subscribers, then another, in two
// cycles of 2.5 s phases, against a broker that cuts a connection 4 MiB
// behind: the stalled ones are cut, the others lose nothing, and the
// report has both phases of each cycle. A stalled subscriber is cut once
// its socket's buffers, which the kernel may have grown to tens of MiB
// while it read, and the 4 MiB are full: at 16 MB/s that is 0.3 to 2.5 s,
// so one of the two may be closed uncut. Under -race, the readers that go
// on could not keep up with 16 MB/s each on a loaded machine: the bodies
// are 4 KiB and none need be cut.
func TestEndToEndStall(t *testing.T) {
	srv := startServer(t, broker.Options{MaxPendingBytes: 4 << 20}, nil)
	size := "16384"
	if raceEnabled {
		size = "4096"
	}
	r, code, stderr := runJSON(t, "-tcp", srv.tcp, "-scenario", "fanout", "-subs", "4", "-stall", "0.25", "-stall-cycles", "2",
		"-rate", "1000", "-size", size, "-duration", "10s")
	if code != exitOK || !r.Valid || r.Stall == nil {
		t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
	}
	st := r.Stall
	if len(st.Cycles) != 2 || st.PerCycle != 1 {
		t.Fatalf("stall report %+v, want 2 cycles of 1", st)
	}
	cut := 0
	for i, c := range st.Cycles {
		cut += c.Cut
		expect(t, c.Cut+c.NotCut == 1 && len(c.CutAfter) == c.Cut, "cycle %d: cut %d, not cut %d (%v)", i+1, c.Cut, c.NotCut, c.CutAfter)
		expect(t, c.Baseline.Samples > 0 && c.Stalled.Samples > 0 && c.Ratio.P99 > 0,
			"cycle %d: baseline %+v, stalled %+v, ratio %+v", i+1, c.Baseline, c.Stalled, c.Ratio)
	}
	expect(t, cut > 0 || raceEnabled, "none of the 2 stalled subscribers was cut")
	expect(t, st.MedianRatio.P50 > 0, "median ratio %+v", st.MedianRatio)
	expect(t, r.Lost == 0 && r.Duplicated == 0, "lost %d duplicated %d", r.Lost, r.Duplicated)
	// The stalled subscribers' late deliveries, seconds behind, are not
	// the run's latency.
	expect(t, r.Latency.P999 < 1e6, "latency %+v", r.Latency)

	var text strings.Builder
	if err := r.write(&text, false); err != nil {
		t.Fatal(err)
	}
	expect(t, strings.Contains(text.String(), " of 1") && strings.Contains(text.String(), "stall ratio  median over cycles"),
		"report:\n%s", text.String())
}

func TestMedianRatios(t *testing.T) {
	cycle := func(p50, p99, p999 float64) stallCycle { return stallCycle{Ratio: ratios{p50, p99, p999}} }
	tests := []struct {
		cycles []stallCycle
		want   ratios
	}{
		{nil, ratios{}},
		{[]stallCycle{cycle(1.1, 0.9, 2)}, ratios{1.1, 0.9, 2}},
		{[]stallCycle{cycle(3, 1, 1), cycle(1, 2, 1), cycle(2, 9, 1)}, ratios{2, 2, 1}},
		{[]stallCycle{cycle(1, 1, 1), cycle(2, 3, 1), cycle(4, 9, 1), cycle(100, 1, 1)}, ratios{3, 2, 1}},
	}
	for _, tt := range tests {
		if got := medianRatios(tt.cycles); got != tt.want {
			t.Errorf("medianRatios(%v) = %+v, want %+v", tt.cycles, got, tt.want)
		}
	}
}
