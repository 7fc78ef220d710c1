package broker

import (
	"time"

	"github.com/stompd/stompd/stomp"
)

// heartbeatEOL is the heart-beat the server sends when otherwise idle.
var heartbeatEOL = []byte{'\n'}

// writeLoop is the writer goroutine: it drains the outbox in batches,
// flushing once per batch, sends heart-beats, enforces the connection's
// deadlines on its ticker and closes the socket when the session ends.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	w := writer{c: c, tick: time.NewTicker(c.tickPeriod()), lastWrite: c.b.now()}
	defer w.tick.Stop()
	graceful, err := w.run()
	if err != nil {
		c.closeWith(nil, "write: "+err.Error())
	}
	c.t.close(graceful)
}

// writer is the state of a connection's writer goroutine.
type writer struct {
	c         *conn
	tick      *time.Ticker
	batch     []outItem
	lastWrite time.Time
}

// run writes until the session ends (graceful when everything, the final
// frame included, was written) or a write fails.
func (w *writer) run() (graceful bool, err error) {
	c := w.c
	for {
		select {
		case <-c.wake:
		case <-w.tick.C:
			if err := w.onTick(); err != nil {
				return false, err
			}
		}
		if c.retick.CompareAndSwap(true, false) {
			w.tick.Reset(c.tickPeriod())
		}
		var closing bool
		w.batch, closing = c.out.take(w.batch)
		if len(w.batch) > 0 {
			if err := c.writeBatch(w.batch); err != nil {
				return false, err
			}
			w.lastWrite = c.b.now()
		}
		if closing {
			return c.writeFinal(), nil
		}
	}
}

// onTick checks the deadlines and sends a heart-beat when one is due.
func (w *writer) onTick() error {
	if !w.c.onTick(w.lastWrite) {
		return nil
	}
	if err := w.c.t.writeRaw(heartbeatEOL, w.c.deadline()); err != nil {
		return err
	}
	w.lastWrite = w.c.b.now()
	return nil
}

// writeBatch writes one batch and accounts for it. Tracked deliveries are
// claimed first: one whose subscription ended meanwhile was put back in its
// queue, and is skipped.
func (c *conn) writeBatch(batch []outItem) error {
	n := 0
	for i := range batch {
		n += batch[i].size()
	}
	live := claim(batch)
	err := c.t.writeBatch(c, live, c.deadline())
	for _, q := range c.out.written(n) {
		q.dispatch()
	}
	if err != nil {
		return err
	}
	c.count(live)
	return nil
}

// count accounts for a written batch with one update per metric child it
// touches, not one per frame: a hundred writers updating shared counters per
// frame contend for their cache lines. Delivery latency is sampled once per
// batch, for its oldest message; a batch holds one message unless the
// writer has fallen behind.
func (c *conn) count(batch []outItem) {
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
		c.b.m.latency.Observe(time.Since(oldest).Seconds())
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

// onTick enforces the CONNECT timeout, the token deadline and the client's
// heart-beat, and reports whether a server heart-beat is due.
func (c *conn) onTick(lastWrite time.Time) (beat bool) {
	now := c.b.now()
	if !c.connected.Load() {
		if now.Sub(c.opened) > c.b.o.ConnectTimeout {
			c.fail(protocolErrorf("no CONNECT frame within %s", c.b.o.ConnectTimeout), nil)
		}
		return false
	}
	if exp := c.expires.Load(); exp != 0 && now.UnixNano() >= exp {
		c.fail(&frameError{code: CodeTokenExpired, message: "token expired"}, nil)
		return false
	}
	if every := time.Duration(c.recvEvery.Load()); every > 0 && now.UnixNano()-c.lastRead.Load() > int64(2*every) {
		c.closeWith(nil, "heart-beat timeout: client silent for more than "+(2*every).String())
		return false
	}
	every := time.Duration(c.sendEvery.Load())
	return every > 0 && now.Sub(lastWrite) >= every && !c.closing.Load()
}

// idleTick is the writer's tick period when it has no deadline to watch: a
// session without heart-beats whose identity never expires.
const idleTick = time.Minute

// tickPeriod is how often the writer checks deadlines: often enough for the
// heart-beats and the CONNECT timeout, at least every tickMax for the token
// deadline, rarely when there is nothing to check.
func (c *conn) tickPeriod() time.Duration {
	p := idleTick
	if !c.connected.Load() {
		p = min(c.b.tickMax, c.b.o.ConnectTimeout/4)
	} else if c.expires.Load() != 0 {
		p = c.b.tickMax
	}
	for _, every := range [...]int64{c.sendEvery.Load(), c.recvEvery.Load()} {
		if every > 0 {
			p = min(p, time.Duration(every)/4)
		}
	}
	return max(p, time.Millisecond)
}

// appendPrefix appends a delivery's own lines: the command, subscription,
// message-id, ack (STOMP 1.2 client modes) and redelivered headers.
func (c *conn) appendPrefix(dst []byte, it *outItem) []byte {
	s := it.sub
	dst = append(dst, s.prefix...)
	dst = append(dst, "message-id:"...)
	dst = appendUint(dst, it.msg.id)
	if s.mode != ackAuto && c.version == stomp.V12 {
		dst = append(dst, "\nack:"...)
		dst = appendAckID(dst, s.serial, it.seq)
	}
	if it.redelivered {
		dst = append(dst, "\nredelivered:true"...)
	}
	return append(dst, '\n')
}
