package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// settleWait is how long a stalled subscriber, reading again, may take to
// reach the end of what its socket holds and find it was cut.
const settleWait = 2 * time.Second

// checkStall validates -stall and -stall-cycles. A stall runs at a set
// -rate with no window, so that the publisher never waits for the
// subscribers that stopped reading.
func (c *config) checkStall() error {
	if c.Stall == 0 {
		return nil
	}
	if c.Scenario != scenarioFanout {
		return errors.New("-stall only applies to the fanout scenario")
	}
	if c.Stall < 0 || c.Stall >= 1 || c.StallCycles < 1 {
		return errors.New("-stall wants a fraction between 0 and 1, -stall-cycles at least 1")
	}
	if c.Duration == 0 || c.Rate == 0 {
		return errors.New("-stall needs -duration and -rate: the stall starts halfway, at a steady rate")
	}
	if c.stalledPerCycle()*c.StallCycles >= c.Subs {
		return fmt.Errorf("-stall %g over %d cycles stalls every one of the %d subscribers: none would be left to measure", c.Stall, c.StallCycles, c.Subs)
	}
	c.Window = -1
	return nil
}

// stalledPerCycle is how many subscribers stop reading in each cycle.
func (c *config) stalledPerCycle() int {
	return max(1, int(math.Round(c.Stall*float64(c.Subs))))
}

// gate stops one subscriber's reader when the stall begins: the reader
// blocks before its next read, so its socket fills and the broker, which
// cannot write to it, eventually cuts it as a slow consumer.
type gate struct {
	led     *ledger
	size    int
	c       *conn
	stalled atomic.Bool
	release chan struct{} // closed when the reader may go on
	stallNs int64         // when it stopped reading
	// lastSent is the send time of the last message the reader got after
	// the stall, reader only: once released, the last message the broker
	// wrote before cutting it, which dates the cut.
	lastSent int64
	cut      bool // set by settle
}

// attach wraps c's handlers, which receive set, with the gate's.
func (g *gate) attach(c *conn) {
	g.c = c
	onMessage, afterRead := c.onMessage, c.afterRead
	c.onMessage = func(c *conn, f *stomp.Frame) {
		onMessage(c, f)
		if g.stalled.Load() {
			if s, ok := readBody(f.Body, g.size); ok {
				g.lastSent = max(g.lastSent, s.sent)
			}
		}
	}
	c.afterRead = func() {
		afterRead()
		if g.stalled.Load() {
			<-g.release
		}
	}
}

// onEnd makes the end of a stalled subscriber's connection expected: the
// broker cutting it is the point.
func (g *gate) onEnd(fail func(error)) func(error) {
	return func(err error) {
		if !g.stalled.Load() {
			fail(err)
		}
	}
}

// settle lets a stalled reader go on and waits for it to find it was cut;
// one still connected after settleWait is closed.
func (g *gate) settle() {
	close(g.release)
	timer := time.NewTimer(settleWait)
	defer timer.Stop()
	select {
	case <-g.c.done:
		g.cut = true
	case <-timer.C:
		g.c.close(false, 0)
	}
}

// staller runs fanout's slow-consumer isolation test: the measured time is
// split into -stall-cycles pairs of phases, a baseline then a stall, and
// in the stall of cycle k subscribers k·n to (k+1)·n-1 stop reading. The
// others' latency is taken in both phases of each cycle; the others of
// cycle k are the subscribers from (k+1)·n on, none of which has stalled
// yet.
type staller struct {
	clock    *clock
	sent     func(stream uint32) uint64
	perCycle int
	phaseNs  int64
	gates    []*gate // one per subscriber
	cycles   []stallCycle
	active   int // the cycle whose stall goes on, or -1
	done     chan struct{}
	settling sync.WaitGroup
	result   *stallReport // once finished
}

// newStaller puts a gate on every subscriber of b's topology.
func newStaller(b *bench) *staller {
	cfg := &b.cfg
	st := &staller{
		clock: &b.clock, sent: b.tp.sent, perCycle: cfg.stalledPerCycle(),
		phaseNs: int64(cfg.Duration) / int64(2*cfg.StallCycles),
		cycles:  make([]stallCycle, 0, cfg.StallCycles), active: -1, done: make(chan struct{}),
	}
	for i := range b.tp.subscribers {
		g := &gate{led: b.tp.subscribers[i].ledger, size: cfg.Size, release: make(chan struct{})}
		b.tp.subscribers[i].gate = g
		st.gates = append(st.gates, g)
	}
	return st
}

// startStall runs the phases of -stall from warmNs, if it was given; the
// function returned ends the last stall, once the run drained, and so
// lets the stalled readers go before their connections close.
func (b *bench) startStall(ctx context.Context, warmNs int64) (end func()) {
	if b.stall == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go b.stall.run(ctx, warmNs)
	return func() {
		cancel()
		b.stall.finish()
	}
}

// run takes the phases in turn from warmNs, until the last stall begins
// or ctx ends; finish ends the last stall. A baseline after a stall is
// measured from when the stalled readers settled.
func (st *staller) run(ctx context.Context, warmNs int64) {
	defer close(st.done)
	at := func(phase int) int64 { return warmNs + int64(phase)*st.phaseNs }
	if !st.sleepUntil(ctx, at(0)) {
		return
	}
	st.collect() // the warm-up belongs to no phase
	for k := range cap(st.cycles) {
		if !st.sleepUntil(ctx, at(2*k+1)) {
			return
		}
		st.cycles = append(st.cycles, stallCycle{Baseline: st.collect()})
		st.stall(k)
		if k == cap(st.cycles)-1 || !st.sleepUntil(ctx, at(2*k+2)) {
			return
		}
		st.endStall()
		// The stalled readers catch up on what their sockets hold, on
		// stompbench's own core: the next baseline starts once they have.
		st.settling.Wait()
		st.collect()
	}
}

// sleepUntil waits for the clock to reach ns; false if ctx ended first.
func (st *staller) sleepUntil(ctx context.Context, ns int64) bool {
	timer := time.NewTimer(time.Duration(ns - st.clock.now()))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// collect ends a phase, on every ledger, and returns the latency over it
// of the others of the current cycle: the subscribers that neither have
// stalled nor stall in it. A stalled subscriber's deliveries no longer
// count in the run's figures.
func (st *staller) collect() latency {
	h := newHistogram()
	from := (len(st.cycles) + 1) * st.perCycle
	if st.active >= 0 {
		from = (st.active + 1) * st.perCycle
	}
	for i, g := range st.gates {
		ph := g.led.cutPhase(!g.stalled.Load())
		if i >= from {
			h.merge(ph)
		}
	}
	return latencyOf(h)
}

// stall stops the readers of cycle k. What their streams sent so far is
// all they must get.
func (st *staller) stall(k int) {
	now := st.clock.now()
	for _, g := range st.gates[k*st.perCycle : (k+1)*st.perCycle] {
		g.led.capAt(st.sent)
		g.stallNs = now
		g.stalled.Store(true)
	}
	st.active = k
}

// endStall ends the stall going on, if any: the others' latency, then
// the stalled readers go on, to learn which were cut.
func (st *staller) endStall() {
	k := st.active
	if k < 0 {
		return
	}
	st.cycles[k].Stalled = st.collect()
	st.active = -1
	for _, g := range st.gates[k*st.perCycle : (k+1)*st.perCycle] {
		st.settling.Go(g.settle)
	}
}

// finish ends the last stall once the run drained (or stopped early),
// and reports every cycle whose stall began in result.
func (st *staller) finish() {
	<-st.done
	st.endStall()
	st.settling.Wait()
	r := &stallReport{PerCycle: st.perCycle, PhaseSeconds: float64(st.phaseNs) / 1e9}
	for k := range st.cycles {
		c := &st.cycles[k]
		c.Ratio = ratiosOf(c.Baseline, c.Stalled)
		for _, g := range st.gates[k*st.perCycle : (k+1)*st.perCycle] {
			if g.cut {
				c.CutAfter = append(c.CutAfter, float64(max(g.lastSent-g.stallNs, 0))/1e9)
			}
		}
		c.Cut, c.NotCut = len(c.CutAfter), st.perCycle-len(c.CutAfter)
		r.Cycles = append(r.Cycles, *c)
	}
	r.MedianRatio = medianRatios(r.Cycles)
	st.result = r
}

// stallReport is the outcome of fanout's -stall.
type stallReport struct {
	PerCycle     int          `json:"stalled_per_cycle"`
	PhaseSeconds float64      `json:"phase_seconds"`
	Cycles       []stallCycle `json:"cycles"`
	MedianRatio  ratios       `json:"median_ratio"` // over the cycles
}

// stallCycle is one baseline phase and the stall phase after it.
type stallCycle struct {
	Baseline latency `json:"baseline"` // the other subscribers' latency before the stall
	Stalled  latency `json:"stalled"`  // and while it lasted
	Ratio    ratios  `json:"ratio"`    // stalled ÷ baseline
	Cut      int     `json:"cut"`      // stalled subscribers the broker cut
	NotCut   int     `json:"not_cut"`  // still connected at the end of the stall
	// CutAfter dates each cut: how long after the stall began the last
	// message it got was sent.
	CutAfter []float64 `json:"cut_after_seconds"`
}

// ratios compares two latencies quantile by quantile.
type ratios struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
}

func ratiosOf(base, l latency) ratios {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return ratios{P50: div(l.P50, base.P50), P99: div(l.P99, base.P99), P999: div(l.P999, base.P999)}
}

// medianRatios is the median of each ratio over the cycles.
func medianRatios(cycles []stallCycle) ratios {
	n := len(cycles)
	p50, p99, p999 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, c := range cycles {
		p50[i], p99[i], p999[i] = c.Ratio.P50, c.Ratio.P99, c.Ratio.P999
	}
	return ratios{P50: median(p50), P99: median(p99), P999: median(p999)}
}

// write prints the cycles and the median ratios.
func (r *stallReport) write(sb *strings.Builder) {
	fmt.Fprintf(sb, "  %-12s %d subscribers stop reading per cycle; %d cycles of %.1f s baseline + %.1f s stalled\n", "stall",
		r.PerCycle, len(r.Cycles), r.PhaseSeconds, r.PhaseSeconds)
	for i := range r.Cycles {
		c := &r.Cycles[i]
		fmt.Fprintf(sb, "  %-12s others p50 %s -> %s (x%.2f)  p99 %s -> %s (x%.2f)  p99.9 %s -> %s (x%.2f)\n",
			fmt.Sprintf("cycle %d", i+1),
			humanLatency(c.Baseline.P50), humanLatency(c.Stalled.P50), c.Ratio.P50,
			humanLatency(c.Baseline.P99), humanLatency(c.Stalled.P99), c.Ratio.P99,
			humanLatency(c.Baseline.P999), humanLatency(c.Stalled.P999), c.Ratio.P999)
		fmt.Fprintf(sb, "  %-12s cut %d of %d%s\n", "", c.Cut, c.Cut+c.NotCut, cutTimes(c.CutAfter))
	}
	m := r.MedianRatio
	fmt.Fprintf(sb, "  %-12s median over cycles: p50 x%.2f  p99 x%.2f  p99.9 x%.2f\n", "stall ratio", m.P50, m.P99, m.P999)
}

// cutTimes sums up when the cuts came.
func cutTimes(after []float64) string {
	if len(after) == 0 {
		return ""
	}
	return fmt.Sprintf(", %.2f s to %.2f s after the stall began", slices.Min(after), slices.Max(after))
}
