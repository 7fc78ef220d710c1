package broker

import (
	"slices"
	"sync"
	"time"
)

// writerPool keeps the goroutines of writer runs that ended, for the next
// connection that needs a writer run. A goroutine started anew pays for its
// creation and, above all, for growing its stack to what a socket write
// needs: the runtime copies the stack, walking every frame, which cost
// about 16,000 instructions per run, two thirds of a delivery's user-space
// cost whenever writers ended between messages. They do at a few hundred
// messages a second, and at any rate when one message's fan-out takes longer
// than writerLinger, as a hundred socket writes can. A pooled goroutine
// keeps its grown stack. The goroutines are shared by all connections: a
// broker keeps as many as it has runs at once. One that waited poolLinger
// ends, so an idle broker holds none, and all end once the broker shuts
// down (close).
//
// The most recent to wait is handed the next run, so that those a burst
// started and a steady load does not need age and end. Handing a run over
// takes a mutex and a channel send; a select on the goroutine's own timer
// as well cost about 2,000 instructions more per run.
type writerPool struct {
	mu     sync.Mutex
	idle   []*pooled   // waiting goroutines, in the order they began to wait
	sweep  *time.Timer // ends those that waited poolLinger; nil until first needed
	armed  bool        // sweep is set: idle is not empty
	closed bool        // the broker shut down: goroutines end instead of waiting
}

// pooled is a goroutine of the pool.
type pooled struct {
	next  chan *conn // capacity 1: its next connection, or nil to end
	since time.Time  // when it last began to wait
}

// poolLinger is how long a pooled writer goroutine waits for a connection
// before it ends: long enough to outlast the gaps between runs of a broker
// that delivers a few messages a second, short enough that a broker left
// without Shutdown (in tests) holds none for long.
const poolLinger = 100 * time.Millisecond

// start runs a writer run of c on a waiting goroutine, or on a new one when
// none waits.
func (p *writerPool) start(c *conn) {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		go p.run(c)
		return
	}
	w := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.mu.Unlock()
	w.next <- c // never blocks: w waits for exactly this
}

// run is a writer goroutine: it runs the writer run of c, then that of
// each connection the pool hands it, until it is told to end.
func (p *writerPool) run(c *conn) {
	w := &pooled{next: make(chan *conn, 1)}
	for c != nil {
		c.writeLoop()
		if !p.put(w) {
			return
		}
		c = <-w.next
	}
}

// put makes w, whose run ended, one of the waiting goroutines; it reports
// false when the broker shut down, and w must end.
func (p *writerPool) put(w *pooled) bool {
	w.since = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.idle = append(p.idle, w)
	if !p.armed {
		p.armed = true
		p.arm(poolLinger)
	}
	return true
}

// arm sets the sweep timer to run after d. Called with p.mu held.
func (p *writerPool) arm(d time.Duration) {
	if p.sweep == nil {
		p.sweep = time.AfterFunc(d, p.retire)
		return
	}
	p.sweep.Reset(d)
}

// retire ends the goroutines that waited poolLinger, and sets the sweep
// timer for the next one to.
func (p *writerPool) retire() {
	p.mu.Lock()
	now := time.Now()
	k := 0
	for k < len(p.idle) && now.Sub(p.idle[k].since) >= poolLinger {
		k++
	}
	ended := slices.Clone(p.idle[:k])
	p.idle = slices.Delete(p.idle, 0, k)
	p.armed = len(p.idle) > 0 && !p.closed
	if p.armed {
		p.arm(poolLinger - now.Sub(p.idle[0].since))
	}
	p.mu.Unlock()
	end(ended)
}

// close ends the waiting goroutines, and those running a writer run once
// it ends: the broker shut down.
func (p *writerPool) close() {
	p.mu.Lock()
	p.closed = true
	ended := p.idle
	p.idle = nil
	if p.sweep != nil {
		p.sweep.Stop()
	}
	p.mu.Unlock()
	end(ended)
}

// end tells the waiting goroutines ws to end.
func end(ws []*pooled) {
	for _, w := range ws {
		w.next <- nil
	}
}
