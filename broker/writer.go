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
	tick := time.NewTicker(c.tickPeriod())
	defer tick.Stop()
	var batch []outItem
	lastWrite := c.b.now()
	graceful := false
loop:
	for {
		select {
		case <-c.wake:
		case <-tick.C:
			if c.onTick(lastWrite) {
				if err := c.t.writeRaw(heartbeatEOL, c.deadline()); err != nil {
					c.closeWith(nil, "write: "+err.Error())
					break loop
				}
				lastWrite = c.b.now()
			}
		}
		if c.retick.CompareAndSwap(true, false) {
			tick.Reset(c.tickPeriod())
		}
		var closing bool
		batch, closing = c.out.take(batch)
		if len(batch) > 0 {
			if err := c.writeBatch(batch); err != nil {
				c.closeWith(nil, "write: "+err.Error())
				break loop
			}
			lastWrite = c.b.now()
		}
		if closing {
			graceful = c.writeFinal()
			break loop
		}
	}
	c.t.close(graceful)
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
	c.out.written(n)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range live {
		it := &live[i]
		c.b.m.framesOut[it.cmd].Inc()
		if it.msg != nil {
			c.b.m.delivered[it.msg.kind].Inc()
			c.b.m.latency.Observe(now.Sub(it.msg.accepted).Seconds())
		}
	}
	return nil
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

// tickPeriod is how often the writer checks deadlines: often enough for the
// heart-beats and the CONNECT timeout, at least every tickMax for the token
// deadline.
func (c *conn) tickPeriod() time.Duration {
	p := c.b.tickMax
	if !c.connected.Load() {
		p = min(p, c.b.o.ConnectTimeout/4)
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
