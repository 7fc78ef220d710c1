package broker

import "time"

// Each connection has one timer, a time.AfterFunc that the reader starts
// (startTimer), every change of a deadline re-arms (rearm) and the writer's
// last run stops (stopTimer). On each tick (onTimer) it enforces the
// CONNECT timeout, the token deadline, the client's heart-beat and the frame
// timeout, asks the writer for a server heart-beat when one is due, and
// retires a parked writer that wrote nothing since the previous tick.
// timerMu guards the timer itself; everything a tick reads is atomic.

// startTimer starts the timer, unless the session already ended (Shutdown
// can end it before serve runs).
func (c *conn) startTimer() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if !c.timerStopped {
		c.timer = time.AfterFunc(c.tickPeriod(), c.onTimer)
	}
}

// stopTimer stops the timer for good: the writer's last run calls it, and
// no later startTimer or rearm arms it again.
func (c *conn) stopTimer() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	c.timerStopped = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// rearm sets the timer's next tick from the current tick period, unless the
// timer was stopped.
func (c *conn) rearm() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.timer != nil {
		c.timer.Reset(c.tickPeriod())
	}
}

// onTimer runs on the connection's timer: it enforces the deadlines, asks
// the writer for a heart-beat when one is due, ends a parked writer that
// wrote nothing since the last tick, and sets the next tick.
func (c *conn) onTimer() {
	wrote := c.wrote.Swap(false)
	if c.onTick(time.Unix(0, c.lastWrite.Load())) {
		c.beat.Store(true)
		c.wakeWriter()
	} else if !wrote && c.out.retireParked() {
		c.wake <- struct{}{}
	}
	c.rearm()
}

// onTick enforces the CONNECT timeout, the token deadline, the client's
// heart-beat and the frame timeout, and reports whether a server heart-beat
// is due.
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
	if every := time.Duration(c.recvEvery.Load()); every > 0 && now.UnixNano()-c.lastRead.Load() > int64(2*every) && !c.storing.Load() {
		c.closeWith(nil, "heart-beat timeout: client silent for more than "+(2*every).String())
		return false
	}
	if began := c.frameBegan.Load(); began != 0 && now.UnixNano()-began > int64(c.b.o.FrameTimeout) {
		c.failFrameTimeout()
		return false
	}
	every := time.Duration(c.sendEvery.Load())
	return every > 0 && now.Sub(lastWrite) >= every && !c.closing.Load()
}

// failFrameTimeout ends a session whose client left a frame half-sent for
// longer than the frame timeout, and counts it.
func (c *conn) failFrameTimeout() {
	msg := "frame not completed within " + c.b.o.FrameTimeout.String()
	if c.fail(&frameError{code: CodeLimitExceeded, message: msg}, nil) {
		c.b.m.frameTimeouts.Inc()
		c.log.Warn("frame timeout: client left a frame half-sent", "frame_timeout", c.b.o.FrameTimeout)
	}
}

// idleTick is the timer's longest tick period, that of a session without
// heart-beats whose identity never expires when the frame timeout is longer
// than four of them.
const idleTick = time.Minute

// tickPeriod is how often the timer checks deadlines: often enough for the
// heart-beats and the CONNECT timeout, at least every tickMax for the token
// deadline, every quarter of the frame timeout for a frame left half-sent,
// rarely when there is nothing else to check.
func (c *conn) tickPeriod() time.Duration {
	p := min(idleTick, c.b.o.FrameTimeout/4)
	if !c.connected.Load() {
		p = min(c.b.tickMax, c.b.o.ConnectTimeout/4)
	} else if c.expires.Load() != 0 {
		p = min(p, c.b.tickMax)
	}
	for _, every := range [...]int64{c.sendEvery.Load(), c.recvEvery.Load()} {
		if every > 0 {
			p = min(p, time.Duration(every)/4)
		}
	}
	return max(p, time.Millisecond)
}
