package main

import (
	"testing"
	"time"
)

func TestScheduleAt(t *testing.T) {
	tests := []struct {
		name  string
		sched schedule
		i     uint64
		want  int64
	}{
		{"first message at the start", schedule{startNs: 500, rate: 1000}, 0, 500},
		{"1,000/s", schedule{startNs: 500, rate: 1000}, 3, 500 + 3_000_000},
		{"rounded up to the nanosecond", schedule{rate: 3}, 1, 333_333_334},
		{"below 1/s", schedule{rate: 0.5}, 2, 4_000_000_000},
		{"9,141/s after 10 s", schedule{rate: 9141}, 91410, 10_000_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sched.at(tt.i); got != tt.want {
				t.Errorf("at(%d) = %d, want %d", tt.i, got, tt.want)
			}
		})
	}
}

// TestScheduleDueBy checks that dueBy counts exactly the messages whose
// time has come: message dueBy(ns)-1 is due by ns and message dueBy(ns)
// is not, so a publisher woken at at(i) always finds message i due.
func TestScheduleDueBy(t *testing.T) {
	for _, rate := range []float64{0.5, 1, 3, 7, 1000, 9141, 18283.7, 1e6, 3e7} {
		s := schedule{startNs: 12345, rate: rate}
		t.Run(time.Duration(1e9/rate).String(), func(t *testing.T) {
			if got := s.dueBy(s.startNs - 1); got != 0 {
				t.Errorf("dueBy before the start = %d, want 0", got)
			}
			for i := range uint64(2000) {
				// Around message i's time, and a day into the run.
				for _, j := range []uint64{i, i + uint64(rate*86400)} {
					at := s.at(j)
					if got := s.dueBy(at); got != j+1 {
						t.Fatalf("dueBy(at(%d)) = %d, want %d", j, got, j+1)
					}
					if got := s.dueBy(at - 1); got != j {
						t.Fatalf("dueBy(at(%d)-1) = %d, want %d", j, got, j)
					}
				}
			}
		})
	}
}

func TestAlarmSleeps(t *testing.T) {
	a, err := newAlarm()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	for _, d := range []time.Duration{-time.Millisecond, 0, time.Microsecond, 200 * time.Microsecond, 2 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			start := time.Now()
			if err := a.sleep(d); err != nil {
				t.Fatal(err)
			}
			// Never early; how late it may be is up to the machine.
			if got := time.Since(start); got < d {
				t.Errorf("sleep(%v) returned after %v", d, got)
			}
		})
	}
}
