package broker

import (
	"fmt"
	"testing"
)

// writerState is the outbox's bookkeeping of its writer run, and what the
// run will find when it looks.
type writerState struct {
	active, parked, kicked, retire bool
	items                          int
	closing                        bool
}

// The writer states the outbox moves between.
var (
	idle     = writerState{}                           // no writer run exists
	running  = writerState{active: true}               // a run writes what it took
	kicked   = writerState{active: true, kicked: true} // ... and must look again before it rests
	parked   = writerState{active: true, parked: true} // a run waits for a wake-up
	retiring = writerState{active: true, retire: true} // woken by the timer, to end
)

// with returns s holding n queued frames.
func (s writerState) with(n int) writerState { s.items = n; return s }

// closed returns s once the connection is closing.
func (s writerState) closed() writerState { s.closing = true; return s }

func (s writerState) String() string {
	name := "idle"
	if s.active {
		name = "active"
	}
	for _, f := range [...]struct {
		set  bool
		name string
	}{{s.parked, "parked"}, {s.kicked, "kicked"}, {s.retire, "retire"}, {s.items > 0, fmt.Sprint(s.items, "queued")}, {s.closing, "closing"}} {
		if f.set {
			name += "+" + f.name
		}
	}
	return name
}

// outbox returns an outbox in state s.
func (s writerState) outbox() *outbox {
	o := &outbox{active: s.active, parked: s.parked, kicked: s.kicked, retire: s.retire, closing: s.closing}
	for range s.items {
		o.items = append(o.items, outItem{raw: []byte("x")})
		o.bytes++
	}
	return o
}

func stateOf(o *outbox) writerState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return writerState{active: o.active, parked: o.parked, kicked: o.kicked, retire: o.retire, items: len(o.items), closing: o.closing}
}

// outboxEvents are what happens to an outbox, each returning what its
// caller is told to do. Publishers push; the reader, the timer and a
// closing session kick; only a writer run takes and rests, and only the
// timer retires a parked run.
var outboxEvents = map[string]func(o *outbox) string{
	"push":                func(o *outbox) string { return pushNames[o.push(outItem{raw: []byte("y")}, 1<<20)] },
	"push past the bound": func(o *outbox) string { return pushNames[o.push(outItem{raw: []byte("y")}, 1)] },
	"queue push":          func(o *outbox) string { return pushNames[o.pushFlow(outItem{raw: []byte("y")}, 1<<20, &queue{})] },
	"queue push, no room": func(o *outbox) string { return pushNames[o.pushFlow(outItem{raw: []byte("y")}, 1, &queue{})] },
	"kick":                func(o *outbox) string { return pushNames[o.kick()] },
	"take":                func(o *outbox) string { items, _ := o.take(nil); return fmt.Sprintf("took %d", len(items)) },
	"rest busy":           func(o *outbox) string { return restNames[o.rest(true, false)] },
	"rest idle":           func(o *outbox) string { return restNames[o.rest(false, false)] },
	"retireParked":        func(o *outbox) string { return fmt.Sprintf("wake it: %v", o.retireParked()) },
}

var pushNames = map[pushResult]string{
	pushed: "nothing: the run will look", pushedWake: "wake the run", pushedStart: "start a run",
	refused: "refused", overflowed: "cut", full: "wait for room",
}

var restNames = map[restAction]string{restAgain: "take again", restPark: "park", restExit: "exit"}

// TestOutboxWriterTransitions walks every writer state through every event
// that can reach it, checking the next state and what the caller is told
// to do: start a run, wake a parked one, or nothing; take again, park or
// exit. take and rest come only from a running writer, so idle and parked
// have no rows for them.
func TestOutboxWriterTransitions(t *testing.T) {
	tests := []struct {
		from   writerState
		event  string
		to     writerState
		effect string
	}{
		{idle, "push", running.with(1), "start a run"},
		{idle, "kick", running, "start a run"},
		{idle, "retireParked", idle, "wake it: false"},
		{idle.closed(), "push", idle.closed(), "refused"},
		{idle, "queue push", running.with(1), "start a run"},

		{running, "push", kicked.with(1), "nothing: the run will look"},
		{running, "kick", kicked, "nothing: the run will look"},
		{running, "take", running, "took 0"},
		{running.with(2), "take", running, "took 2"},
		{running, "rest busy", parked, "park"},
		{running, "rest idle", idle, "exit"},
		{running.with(1), "rest busy", running.with(1), "take again"},
		{running.with(1), "rest idle", running.with(1), "take again"},
		{running.closed(), "rest idle", running.closed(), "take again"},
		{running.with(1), "push past the bound", running.closed(), "cut"},
		{running.with(1), "queue push, no room", running.with(1), "wait for room"},
		{running, "retireParked", running, "wake it: false"},

		{kicked, "push", kicked.with(1), "nothing: the run will look"},
		{kicked, "kick", kicked, "nothing: the run will look"},
		{kicked.with(1), "take", running, "took 1"},
		{kicked, "rest busy", running, "take again"},
		{kicked, "rest idle", running, "take again"},
		{kicked, "retireParked", kicked, "wake it: false"},

		{parked, "push", running.with(1), "wake the run"},
		{parked, "kick", running, "wake the run"},
		{parked, "retireParked", retiring, "wake it: true"},

		{retiring, "push", writerState{active: true, kicked: true, retire: true, items: 1}, "nothing: the run will look"},
		{retiring, "kick", writerState{active: true, kicked: true, retire: true}, "nothing: the run will look"},
		{retiring, "take", retiring, "took 0"},
		{retiring, "rest busy", idle, "exit"},
		{retiring, "rest idle", idle, "exit"},
		{retiring.with(1), "rest busy", retiring.with(1), "take again"},
		{retiring, "retireParked", retiring, "wake it: false"},
	}
	for _, tt := range tests {
		t.Run(tt.from.String()+"/"+tt.event, func(t *testing.T) {
			o := tt.from.outbox()
			effect := outboxEvents[tt.event](o)
			if got := stateOf(o); got != tt.to || effect != tt.effect {
				t.Errorf("%s, %s: got %s and %q, want %s and %q", tt.from, tt.event, got, effect, tt.to, tt.effect)
			}
		})
	}
}

// TestOutboxStartClearsRetire checks that a run started after a retired
// one ended does not inherit its retirement: it parks when busy.
func TestOutboxStartClearsRetire(t *testing.T) {
	o := parked.outbox()
	o.retireParked()
	if r := o.rest(true, false); r != restExit {
		t.Fatalf("the retired run was told to %s", restNames[r])
	}
	if r := o.kick(); r != pushedStart {
		t.Fatalf("kick after the run ended: %s", pushNames[r])
	}
	if r := o.rest(true, false); r != restPark {
		t.Fatalf("the new busy run was told to %s, want park", restNames[r])
	}
}

// A writer keeps the room a burst grew while it may need it again; once it
// ends with shed set (roomLinger after its last burst), the writer and the
// outbox both let it go, and the connection keeps room for keptBatch frames
// at most.
func TestWriterShedsBurstRoom(t *testing.T) {
	o := &outbox{active: true}
	push := func(n int) {
		for range n {
			o.appendLocked(outItem{raw: []byte("x")})
		}
	}
	var batch []outItem
	push(1000)
	batch, _ = o.take(batch)
	batch = spareBatch(batch, false)
	if cap(batch) < 1000 {
		t.Fatalf("a writer let its room go before roomLinger: room for %d", cap(batch))
	}
	if o.rest(false, false) != restExit {
		t.Fatal("an idle writer with nothing queued did not end")
	}
	o.active = true
	push(2)
	batch, _ = o.take(batch) // the outbox now fills the 1000-frame slice
	batch = spareBatch(batch, true)
	if o.rest(false, true) != restExit {
		t.Fatal("an idle writer with nothing queued did not end")
	}
	if cap(batch) > keptBatch || cap(o.items) > keptBatch {
		t.Errorf("an idle connection holds room for %d frames in its writer's batch and %d in its outbox, want at most %d each", cap(batch), cap(o.items), keptBatch)
	}
	for _, it := range batch[:cap(batch)] {
		if it.raw != nil || it.msg != nil {
			t.Fatal("a spare batch still holds a frame written")
		}
	}
}
