package redisbus

import (
	"io"
	"log/slog"
	"strconv"
	"testing"
)

func TestSourcesDeliverLocallyOnceWhatAFailureMayHaveKept(t *testing.T) {
	var s sources
	s.sending(1, 3) // 1 and 2: the batch before, 3: the batch that fails
	if !s.arrived(1) {
		t.Fatal("a message of the batch before, received numbered before the failure, was passed over")
	}
	for src, want := range map[uint64]bool{1: false, 2: true, 3: true} {
		if got := s.failed(src); got != want {
			t.Errorf("failed(%d) = %v, want %v: deliver locally what was not received numbered", src, got, want)
		}
	}
	if s.arrived(2) || s.arrived(3) {
		t.Error("a message delivered locally at the failure was delivered again when it arrived numbered")
	}
	if !s.arrived(3) {
		t.Error("a source was passed over twice")
	}
}

func TestHeldMessagesStayWithinMaxHeldAndAskForAnotherRound(t *testing.T) {
	const max = 1000
	p := newPartition(&Bus{log: slog.New(slog.NewTextHandler(io.Discard, nil))}, 0, max)
	p.hold()
	for i := range 50 {
		if err := p.receiveNumbered(p.service+"/topic/t", "e "+strconv.Itoa(i+1)+" 0 1 a\nmessage", nil); err != nil {
			t.Fatal(err)
		}
		if p.cu.bytes > max && len(p.cu.held) > 1 {
			t.Fatalf("%d bytes held in %d messages, bound %d", p.cu.bytes, len(p.cu.held), max)
		}
	}
	if !p.overflowed() {
		t.Fatal("messages held past MaxHeld were not reported")
	}
	if p.overflowed() {
		t.Error("overflowed did not reset")
	}
}
