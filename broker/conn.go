package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// transport is what a connection needs of its socket: TCP and WebSocket
// feed the same session code through it.
type transport interface {
	// read feeds incoming bytes to feed until feed returns false or the
	// socket fails. Only the reader goroutine calls it.
	read(feed func([]byte) bool) error
	// pending reports whether bytes the client sent already wait to be
	// read, so that a short read does not mean that it paused. Only the
	// reader goroutine calls it.
	pending() bool
	// writeBatch writes the frames of a batch. Only the writer calls it.
	writeBatch(c *conn, batch []outItem, deadline time.Time) error
	// writeRaw writes one encoded frame (or a heart-beat EOL).
	writeRaw(b []byte, deadline time.Time) error
	// close ends the connection, politely when graceful. The writer closes
	// (gracefully or not) when it is done, the reader (not gracefully) once
	// the writer is done; a graceful close may leave the socket open for a
	// short while, until that second close.
	close(graceful bool) error
	// abort releases the socket at once, from any goroutine, unblocking
	// read and any write.
	abort() error
}

// conn is one client connection and its STOMP session. The reader goroutine
// (serve) owns the decoder and the session state; the writer, which runs
// only while there is something to write, owns the socket's write side; a
// timer watches the deadlines and asks for heart-beats. The fields are
// grouped by who owns them; the lock order is in doc.go.
type conn struct {
	// Fixed before serve starts (textOnly by the SockJS handler, tls by
	// every handler before it tracks the connection, the rest by newConn)
	// and read by every goroutine without a lock.
	b              *Broker
	t              transport // the reader reads, the writer writes, Shutdown may abort
	kind           transportKind
	remote         string
	upgradeSubject string
	textOnly       bool // the transport carries text only (SockJS): see subscription.carries
	tls            bool // the client reached the server over TLS
	log            *slog.Logger
	opened         time.Time

	// Session: owned by the reader goroutine, which sets connected just
	// before it queues CONNECTED; anyone may load connected, and read
	// since (when CONNECT succeeded) once connected is set. nsubs mirrors
	// len(subs) for Sessions. ident, the
	// identity the session acts as, is written by the reader and read by
	// anyone (CloseSessions, the close log line) under idMu, a leaf lock.
	session
	connected atomic.Bool
	since     time.Time
	nsubs     atomic.Int32
	idMu      sync.Mutex
	ident     Identity
	// stores: the messages the reader handed to a QueueBackend, the Journal
	// or the Streams, which their callbacks settle (store.go).
	stores stores

	// Reading: the reader stamps lastRead (by Options.Now, only while the
	// client promised heart-beats, recvEvery > 0); the timer loads it, and
	// leaves the client's heart-beat alone while the reader waits for
	// stores (storing).
	lastRead atomic.Int64
	storing  atomic.Bool
	// While the reader waits for bytes with part of a frame decoded,
	// frameBegan is when that frame's first byte came (UnixNano), for the
	// timer to enforce the frame timeout; 0 otherwise, and while the reader
	// handles bytes. partialSince is the reader's own copy.
	frameBegan   atomic.Int64
	partialSince int64
	// partialHeld is what the decoder holds of a half-received frame, as
	// counted in the broker's partialBytes (beyond partialFree); the reader's.
	partialHeld int

	// Writing: out is shared under out.mu (publishers push, the writer
	// takes, the timer kicks and retires); its active flag lets one writer
	// run exist at a time, and that run owns batch, rested and grown. The timer
	// sets beat to ask for a heart-beat, the writer sets wrote and stamps
	// lastWrite (by Options.Now, only while sendEvery > 0); both are atomic.
	// wake carries one wake-up per park; writerDone closes after the last run.
	out        outbox
	wake       chan struct{} // capacity 1: wakes the parked writer
	batch      []outItem     // the writer's batch
	rested     int64         // UnixNano when the writer last ran out of work
	grown      int64         // UnixNano when it last took more than keptBatch frames
	beat       atomic.Bool   // the timer found a server heart-beat due
	wrote      atomic.Bool   // the writer wrote since the timer's last tick
	lastWrite  atomic.Int64  // UnixNano of the latest write, while sendEvery is set
	writerDone chan struct{}

	// Timing (timer.go): timer and timerStopped are guarded by timerMu,
	// a leaf lock; the deadlines are atomic, set by the reader when the
	// session is established or adopts an identity, and loaded by the timer.
	timerMu      sync.Mutex
	timer        *time.Timer  // nil until started, and once stopped
	timerStopped bool         // the writer's last run stopped it: never start it
	expires      atomic.Int64 // UnixNano of the identity's deadline; 0 never
	sendEvery    atomic.Int64 // negotiated server heart-beat, ns; 0 none
	recvEvery    atomic.Int64 // negotiated client heart-beat, ns; 0 none

	// Lifecycle: the first close (outbox.close, or a slow-consumer cut)
	// sets closing, which mirrors out.closing for lock-free checks, and
	// cancels ctx, which the hook calls of this connection receive (it is
	// also cancelled when Shutdown gives up waiting).
	closing atomic.Bool
	ctx     context.Context
	cancel  context.CancelFunc
}

func (b *Broker) newConn(t transport, kind transportKind, remote, upgradeSubject string) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	now := b.now()
	c := &conn{
		b: b, t: t, kind: kind, remote: remote, upgradeSubject: upgradeSubject,
		opened: now, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), writerDone: make(chan struct{}),
	}
	c.stores.c = c
	c.log = b.log.With("transport", kind.String(), "remote", remote)
	c.lastRead.Store(now.UnixNano())
	c.lastWrite.Store(now.UnixNano())
	c.session.init(b)
	return c
}

// serve runs the connection to its end: it starts the timer, reads until
// the session ends, then tears the session down and waits for the writer's
// last run.
func (c *conn) serve() {
	c.b.m.connections[c.kind].Inc()
	c.log.Info("connection open")
	c.startTimer()
	err := c.t.read(c.feed)
	c.holdPartial(0)
	reason := "client closed"
	if err != nil {
		reason = "read: " + err.Error()
	}
	c.closeWith(nil, reason)
	c.endSession()
	<-c.writerDone
	_, _, why := c.out.finish()
	c.log.Info("connection closed", "user", c.identity().Subject,
		"duration", c.b.now().Sub(c.opened).Round(time.Millisecond), "reason", why)
	c.t.close(false) // after a graceful end, waits for the peer's
	c.b.untrack(c)
	c.b.m.connections[c.kind].Dec()
}

// feed decodes p and handles each completed frame. It reports false once
// the session has ended, so that nothing after an offending frame counts.
func (c *conn) feed(p []byte) bool {
	if len(p) < quietRead && !c.t.pending() { // see readbuf.go
		defer c.dec.Release()
	}
	if c.recvEvery.Load() > 0 { // a clock read costs, per WebSocket message
		c.lastRead.Store(c.b.now().UnixNano())
	}
	if c.partialSince != 0 {
		c.frameBegan.Store(0)
	}
	completed := false
	for len(p) > 0 {
		if c.closing.Load() {
			return false
		}
		n, f, err := c.dec.Decode(p)
		p = p[n:]
		if err != nil {
			c.fail(asFrameError(err), nil)
			return false
		}
		if f != nil {
			completed = true
			if !c.handle(f) {
				return false
			}
		}
		if n == 0 && f == nil {
			break
		}
	}
	c.notePartial(completed)
	if !c.holdPartial(c.dec.Held()) {
		c.failPartialBudget()
	}
	return !c.closing.Load()
}

// partialFree is what a connection's half-received frame holds without
// being counted against MaxPartialBytes: as much as its read buffer holds
// anyway. So frames of that size or less are never refused for the
// budget, whoever fills it.
const partialFree = maxReadBuffer

// holdPartial counts held, what the decoder holds of a half-received frame
// now, beyond partialFree, within MaxPartialBytes; when it would pass it,
// it counts nothing and reports false.
func (c *conn) holdPartial(held int) bool {
	held = max(0, held-partialFree)
	grow := held - c.partialHeld
	if grow > 0 && !c.b.reserveUnfinished(grow) {
		return false
	}
	if grow < 0 {
		c.b.releaseUnfinished(-grow)
	}
	c.partialHeld = held
	return true
}

// reserveUnfinished counts n more bytes held by frames and transactions
// not yet complete, within MaxPartialBytes; when they would pass it, it
// counts nothing and reports false.
func (b *Broker) reserveUnfinished(n int) bool {
	if b.partialBytes.Add(int64(n)) > int64(b.o.MaxPartialBytes) {
		b.partialBytes.Add(-int64(n))
		return false
	}
	return true
}

// releaseUnfinished uncounts n bytes reserveUnfinished counted.
func (b *Broker) releaseUnfinished(n int) { b.partialBytes.Add(-int64(n)) }

// unfinishedFull is the ERROR of a frame or transaction SEND that would
// pass MaxPartialBytes.
func (b *Broker) unfinishedFull() *frameError {
	return limitErrorf("the server holds too many bytes of frames and transactions not yet complete: the limit is %d", b.o.MaxPartialBytes)
}

// failPartialBudget ends a session whose half-received frame would pass
// MaxPartialBytes with those of all the others, and counts it.
func (c *conn) failPartialBudget() {
	if c.fail(c.b.unfinishedFull(), nil) {
		c.b.m.partialCuts.Inc()
		c.log.Warn("partial frame budget full: client cut off", "max_partial_bytes", c.b.o.MaxPartialBytes, "held", c.dec.Held())
	}
}

// notePartial, at the end of the bytes of a read, tells the timer when the
// frame the decoder holds part of began: in this read, when completed says
// a frame ended in it or none was pending before; otherwise when it was
// stamped. It reads the clock only for a frame that spreads over reads.
func (c *conn) notePartial(completed bool) {
	if !c.dec.Partial() {
		c.partialSince = 0
		return
	}
	if completed || c.partialSince == 0 {
		c.partialSince = c.b.now().UnixNano()
	}
	c.frameBegan.Store(c.partialSince)
}

// settle does what a push result asks once the caller holds no lock.
func (c *conn) settle(r pushResult) {
	switch r {
	case pushedStart, pushedWake:
		c.startOrWake(r)
	case overflowed:
		c.closing.Store(true)
		c.cancel()
		c.b.m.slowConsumers.Inc()
		c.b.m.dropSlowConsumer.Add(float64(c.out.droppedMessages()))
		c.log.Warn("slow consumer cut off", "pending_limit", c.b.o.MaxPendingBytes)
		c.wakeWriter()
	}
}

// send queues a frame encoded whole, such as a RECEIPT. It never blocks.
func (c *conn) send(cmd stomp.Command, raw []byte) {
	c.settle(c.out.push(outItem{cmd: cmd, raw: raw}, c.b.o.MaxPendingBytes))
}

// closeWith ends the session: the writer writes what is queued, then final
// (if any), then closes. Only the first call counts.
func (c *conn) closeWith(final []byte, reason string) bool {
	if !c.out.close(final, reason) {
		return false
	}
	c.closing.Store(true)
	c.cancel()
	c.wakeWriter()
	return true
}

// fail sends an ERROR frame for fe after what is queued, and closes.
// receipt is the offending frame's receipt header, if any.
func (c *conn) fail(fe *frameError, receipt []byte) bool {
	v := stomp.V10
	if c.connected.Load() {
		v = c.version
	}
	if c.closeWith(errorFrame(fe, receipt, v), fe.logText()) {
		c.b.m.framesOut[stomp.ERROR].Inc()
		return true
	}
	return false
}

func (c *conn) identity() Identity {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	return c.ident
}

// setIdentity adopts id and moves the session's deadline to id.Expires;
// a new identity forgets the grants of the old one. Only the reader calls
// it.
func (c *conn) setIdentity(id Identity) {
	c.idMu.Lock()
	if !sameIdentity(c.ident, id) {
		c.grants = grants{}
	}
	c.ident = id
	c.idMu.Unlock()
	var exp int64
	if !id.Expires.IsZero() {
		exp = id.Expires.UnixNano()
	}
	if old := c.expires.Swap(exp); (old == 0) != (exp == 0) {
		c.rearm()
	}
}

// errorFrame encodes an ERROR frame.
func errorFrame(fe *frameError, receipt []byte, v stomp.Version) []byte {
	b := make([]byte, 0, 96+2*len(fe.message))
	b = stomp.AppendCommand(b, stomp.ERROR)
	b = stomp.AppendHeaderString(b, stomp.ERROR, "message", fe.message, v)
	b = stomp.AppendHeaderString(b, stomp.ERROR, "code", fe.code, v)
	if receipt != nil {
		b = stomp.AppendHeader(b, stomp.ERROR, []byte("receipt-id"), receipt, v)
	}
	for _, h := range fe.extra {
		b = stomp.AppendHeader(b, stomp.ERROR, h.Key, h.Value, v)
	}
	b = stomp.AppendHeaderString(b, stomp.ERROR, "content-type", "text/plain", v)
	return stomp.AppendBody(b, []byte(fe.message))
}
