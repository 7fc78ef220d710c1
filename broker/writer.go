package broker

import (
	"time"

	"github.com/stompd/stompd/stomp"
)

// heartbeatEOL is the heart-beat the server sends when otherwise idle.
var heartbeatEOL = []byte{'\n'}

// wakeWriter makes sure the writer will look at the outbox.
func (c *conn) wakeWriter() {
	c.startOrWake(c.out.kick())
}

// startOrWake does what a push or kick asked: start a writer run (on a
// pooled goroutine, see writerPool), or wake the run where it is parked.
func (c *conn) startOrWake(r pushResult) {
	switch r {
	case pushedStart:
		c.b.writers.start(c)
	case pushedWake:
		c.wake <- struct{}{} // never blocks: one wake-up per park
	}
}

// writerLinger is how soon after the writer last rested it must be needed
// again to count as busy: a busy writer parks when it runs out of work,
// since it will soon be needed again, and an idle one ends.
const writerLinger = time.Millisecond

// writeLoop is a writer run, on a goroutine of the broker's writerPool. It
// drains the outbox in batches, flushing once per batch, and writes the
// heart-beats the timer asks for. It is started by a frame queued while no
// run exists. Out of work, a busy writer parks, and ends later when the
// timer finds it idle for a whole tick; any other ends at once, handing
// its goroutine back to the pool. An idle connection thus holds no writer
// goroutine, while a busy one pays no hand-over per batch. It also ends
// with the session, once the final frame is written, closing the socket.
func (c *conn) writeLoop() {
	var woke int64 // when the writer was started or woken
	for {
		var closing bool
		c.batch, closing = c.out.take(c.batch)
		now := time.Now() // the one clock read of a batch: a clock read costs
		if woke == 0 {
			woke = now.UnixNano()
		}
		if err := c.writeDue(now); err != nil {
			c.closeWith(nil, "write: "+err.Error())
			c.writerExit(false)
			return
		}
		if closing {
			c.writerExit(c.writeFinal())
			return
		}
		if len(c.batch) > keptBatch {
			c.grown = now.UnixNano()
		}
		busy := woke-c.rested < int64(writerLinger)
		shed := !busy && now.UnixNano()-c.grown > int64(roomLinger)
		c.batch = spareBatch(c.batch, shed) // the next take's spare
		c.rested = now.UnixNano()
		switch c.out.rest(busy, shed) {
		case restPark:
			<-c.wake
			woke = 0
		case restExit:
			return // a new writer may start at once: c is not touched again
		}
	}
}

// keptBatch is the most frames a connection keeps room for once its
// bursts have passed: the room a burst grew is let go when the writer ends
// roomLinger after it last needed more, rather than held for the
// connection's life. Sooner, a connection that bursts now and then would
// grow it again with every burst.
const (
	keptBatch  = 16
	roomLinger = time.Second
)

// spareBatch returns batch, written, as the spare of the next take: empty
// and cleared, so that an idle connection holds no message, or nil when
// shed is set and it has room for more than keptBatch frames. The outbox
// lets its own slice go likewise (rest).
func spareBatch(batch []outItem, shed bool) []outItem {
	if shed && cap(batch) > keptBatch {
		return nil
	}
	clear(batch)
	return batch[:0]
}

// writeDue writes the batch taken, or a heart-beat when the batch is empty
// and the timer found one due; now is the time the write starts.
func (c *conn) writeDue(now time.Time) error {
	if len(c.batch) == 0 {
		if !c.beat.Swap(false) {
			return nil
		}
		if err := c.t.writeRaw(heartbeatEOL, now.Add(c.b.o.WriteTimeout)); err != nil {
			return err
		}
	} else if err := c.writeBatch(c.batch, now); err != nil {
		return err
	}
	c.beat.Store(false)
	c.wrote.Store(true)
	if c.sendEvery.Load() > 0 { // only server heart-beats need the time
		c.lastWrite.Store(c.b.now().UnixNano())
	}
	return nil
}

// writerExit ends the last writer run: no deadline is watched any more,
// and the socket is closed, gracefully when everything was written.
func (c *conn) writerExit(graceful bool) {
	c.stopTimer()
	c.t.close(graceful)
	close(c.writerDone)
}

// writeBatch writes one batch and accounts for it. Tracked deliveries are
// claimed first: one whose subscription ended meanwhile was put back in its
// queue, and is skipped.
func (c *conn) writeBatch(batch []outItem, now time.Time) error {
	n := 0
	for i := range batch {
		n += batch[i].size()
	}
	live := claim(batch)
	err := c.t.writeBatch(c, live, now.Add(c.b.o.WriteTimeout))
	for _, q := range c.out.written(n) {
		q.dispatch()
	}
	if err != nil {
		return err
	}
	c.count(live, now)
	return nil
}

// count accounts for a written batch with one update per metric child it
// touches, not one per frame: a hundred writers updating shared counters per
// frame contend for their cache lines. Delivery latency is sampled once per
// batch, for its oldest message; a batch holds one message unless the
// writer has fallen behind.
func (c *conn) count(batch []outItem, now time.Time) {
	var frames [stomp.ERROR + 1]int
	var delivered [numKinds]int
	var oldest time.Time
	for i := range batch {
		it := &batch[i]
		frames[it.cmd]++
		if it.msg != nil {
			delivered[it.msg.kind]++
			if oldest.IsZero() || it.msg.accepted.Before(oldest) {
				oldest = it.msg.accepted
			}
		}
	}
	for cmd, n := range frames {
		if n > 0 {
			c.b.m.framesOut[cmd].Add(float64(n))
		}
	}
	for kind, n := range delivered {
		if n > 0 {
			c.b.m.delivered[kind].Add(float64(n))
		}
	}
	if !oldest.IsZero() {
		c.b.m.latency.Observe(now.Sub(oldest).Seconds())
	}
}

// claim keeps the items still to be written at the front of batch.
func claim(batch []outItem) []outItem {
	k := 0
	for i := range batch {
		it := &batch[i]
		if it.seq != 0 && !it.sub.claim(it.seq) {
			continue
		}
		batch[k] = *it
		k++
	}
	return batch[:k]
}

// writeFinal writes the closing frame, if any (an ERROR). It reports
// whether the close can be graceful.
func (c *conn) writeFinal() bool {
	final, _, _ := c.out.finish()
	if final == nil {
		return true
	}
	return c.t.writeRaw(final, c.deadline()) == nil
}

func (c *conn) deadline() time.Time {
	return time.Now().Add(c.b.o.WriteTimeout)
}

// appendPrefix appends a delivery's own lines: the command, subscription,
// ack (STOMP 1.2 client modes) and redelivered headers. The message-id is
// the message's, in its common part.
func (c *conn) appendPrefix(dst []byte, it *outItem) []byte {
	s := it.sub
	dst = append(dst, s.prefix...)
	if s.mode != ackAuto && c.version == stomp.V12 {
		dst = append(dst, "ack:"...)
		dst = appendAckID(dst, s.serial, it.seq)
		dst = append(dst, '\n')
	}
	if it.redelivered {
		dst = append(dst, "redelivered:true\n"...)
	}
	return dst
}
