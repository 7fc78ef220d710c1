package main

import (
	"bytes"
	"testing"
)

func TestBodyRoundTrip(t *testing.T) {
	for _, size := range []int{bodyHeaderLen, 49, 128, 4096} {
		body, w := newBody(size)
		want := stamp{stream: 0xdeadbeef, seq: 1<<40 + 7, sent: 123456789}
		w.write(body, want)
		got, ok := readBody(body, size)
		if !ok || got != want {
			t.Fatalf("size %d: readBody = %+v, %v; want %+v", size, got, ok, want)
		}
		if bytes.IndexByte(body, 0) >= 0 {
			t.Fatalf("size %d: body holds a NUL", size)
		}
	}
}

func TestBodyDetectsCorruption(t *testing.T) {
	const size = 128
	fresh := func() []byte {
		body, w := newBody(size)
		w.write(body, stamp{stream: 3, seq: 42, sent: 1000})
		return body
	}
	tests := []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"stream id", func(b []byte) []byte { b[offStream+7] = '4'; return b }},
		{"sequence", func(b []byte) []byte { b[offSeq+15] = '0'; return b }},
		{"send time", func(b []byte) []byte { b[offTime+3] = '9'; return b }},
		{"checksum", func(b []byte) []byte { b[offSum] ^= 1; return b }},
		{"padding", func(b []byte) []byte { b[size-1] = 'Z'; return b }},
		{"not hex", func(b []byte) []byte { b[offSeq] = 'G'; return b }},
		{"upper-case hex", func(b []byte) []byte { b[offSum] = 'A'; return b }},
		{"truncated", func(b []byte) []byte { return b[:size-1] }},
		{"extended", func(b []byte) []byte { return append(b, 'a') }},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, ok := readBody(tt.mangle(fresh()), size); ok {
				t.Errorf("corrupt body accepted as %+v", s)
			}
		})
	}
}

// sentAll pretends every stream has sent n messages.
func sentAll(n uint64) func(uint32) uint64 { return func(uint32) uint64 { return n } }

func body(t *testing.T, size int, stream uint32, seq uint64, sent int64) []byte {
	t.Helper()
	b, w := newBody(size)
	w.write(b, stamp{stream: stream, seq: seq, sent: sent})
	return b
}

func TestLedgerChecks(t *testing.T) {
	const size = 64
	corrupt := body(t, size, 0, 5, 0)
	corrupt[size-1] ^= 1
	tests := []struct {
		name   string
		sent   uint64
		bodies func(t *testing.T) [][]byte
		want   tally
	}{
		{"in order", 3, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, 0), body(t, size, 0, 1, 0), body(t, size, 0, 2, 0)}
		}, tally{expected: 3, received: 3, measured: 3}},
		{"missing", 4, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, 0), body(t, size, 0, 2, 0)}
		}, tally{expected: 4, received: 2, lost: 2, measured: 2}},
		{"duplicated", 2, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, 0), body(t, size, 0, 1, 0), body(t, size, 0, 0, 0)}
		}, tally{expected: 2, received: 2, dups: 1, measured: 2}},
		{"duplicated out of order", 3, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 2, 0), body(t, size, 0, 2, 0), body(t, size, 0, 0, 0), body(t, size, 0, 1, 0)}
		}, tally{expected: 3, received: 3, dups: 1, measured: 3}},
		{"corrupted", 6, func(t *testing.T) [][]byte {
			return [][]byte{corrupt, body(t, size, 0, 0, 0)}
		}, tally{expected: 6, received: 1, lost: 5, corrupt: 1, measured: 1}},
		{"sequence beyond what was sent", 1, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, 0), body(t, size, 0, 9, 0)}
		}, tally{expected: 1, received: 1, corrupt: 1, measured: 1}},
		{"wrong size", 1, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size+1, 0, 0, 0)}
		}, tally{expected: 1, lost: 1, corrupt: 1}},
		{"misrouted", 1, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, 0), body(t, size, 7, 0, 0)}
		}, tally{expected: 1, received: 1, stray: 1, measured: 1}},
		{"warm-up not measured", 2, func(t *testing.T) [][]byte {
			return [][]byte{body(t, size, 0, 0, -1), body(t, size, 0, 1, 5)}
		}, tally{expected: 2, received: 2, measured: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(0, 1, size)
			for _, b := range tt.bodies(t) {
				l.deliver(b, 10, sentAll(tt.sent))
			}
			var got tally
			l.tally(&got, sentAll(tt.sent))
			got.lastNs = 0
			if got != tt.want {
				t.Errorf("tally = %+v\nwant    %+v", got, tt.want)
			}
			if d := l.deliveries.Load(); d != uint64(len(tt.bodies(t))) {
				t.Errorf("deliveries = %d", d)
			}
		})
	}
}

func TestLedgerLatency(t *testing.T) {
	l := newLedger(2, 2, 64)
	l.setWarm(100)
	l.deliver(body(t, 64, 2, 0, 50), 80, sentAll(1))   // warm-up
	l.deliver(body(t, 64, 3, 0, 200), 700, sentAll(1)) // 500 ns
	if l.hist.total != 1 || l.hist.max != 500 || l.lastNs != 700 {
		t.Errorf("histogram total %d max %d, last %d; want one sample of 500 at 700", l.hist.total, l.hist.max, l.lastNs)
	}
}

func TestTrackOutOfOrder(t *testing.T) {
	var tr track
	// Consumers of a queue interleave: every number once, scrambled.
	const n = 5000
	for i := uint64(0); i < n; i += 2 {
		tr.add(i + 1)
		tr.add(i)
	}
	if tr.next != n || tr.pending != 0 || tr.received.Load() != n || tr.dups != 0 {
		t.Fatalf("next %d pending %d received %d dups %d", tr.next, tr.pending, tr.received.Load(), tr.dups)
	}
	if !tr.add(n - 1) {
		t.Error("a repeat below next is not a duplicate")
	}
}

func TestTrackGivesUpFarBehind(t *testing.T) {
	var tr track
	tr.add(1) // 0 missing
	// The ring holds [next, next+ringBits): each of these pushes next on,
	// giving up 0 and 2 to 6 as lost.
	tr.add(ringBits + 5)
	tr.add(ringBits + 6)
	if tr.next != 7 {
		t.Fatalf("next = %d, want 7", tr.next)
	}
	if tr.received.Load() != 3 || tr.pending != 2 {
		t.Fatalf("received %d pending %d", tr.received.Load(), tr.pending)
	}
	tr.add(3 * ringBits) // everything held is far behind now
	if tr.next != 2*ringBits+1 || tr.pending != 1 {
		t.Fatalf("after a long jump: next %d pending %d", tr.next, tr.pending)
	}
	if !tr.add(3 * ringBits) {
		t.Error("repeat after a jump is not a duplicate")
	}
}
