package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// conn is one STOMP client connection. After connect, a reader goroutine
// owns the decoder and runs the message handler; writes are serialised by
// wmu, so a publisher's batches and a consumer's acknowledgements may come
// from different goroutines.
type conn struct {
	t       transport
	proto   protocol
	dec     frameDecoder
	version stomp.Version
	rest    []byte // bytes read and not yet decoded, reader only
	clock   *clock // when set, the reader notes the time of each read
	readNs  int64  // when the bytes in rest arrived, reader only

	wmu     sync.Mutex
	scratch []byte // frames being built, under wmu
	dirty   bool   // written and not flushed, under wmu

	onMessage func(c *conn, f *stomp.Frame) // run by the reader
	afterRead func()                        // run by the reader once all it read is handled
	onReceipt func(f *stomp.Frame) bool     // run by the reader for each RECEIPT; true keeps it from awaitReceipt

	receipts chan string
	closing  atomic.Bool
	done     chan struct{}
	err      error // why the reader stopped, set before done closes
}

// handshakeTimeout bounds CONNECT and each wait for a RECEIPT.
const handshakeTimeout = 10 * time.Second

// connect opens a connection and completes the handshake of d's protocol,
// sending headers (already including accept-version, host and heart-beat)
// with STOMP's CONNECT. The caller starts the reader with run.
func connect(ctx context.Context, d dialer, bufs buffers, src *sourceAddrs, headers []header, maxBody int) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	t, err := d.dial(ctx, bufs, src.next())
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { t.close() })
	defer stop()
	c := &conn{
		t:        t,
		proto:    d.protocol(),
		receipts: make(chan string, 4),
		done:     make(chan struct{}),
	}
	c.dec = c.proto.newDecoder(c, max(stomp.DefaultMaxBodySize, maxBody))
	if err := c.writeFlush(c.proto.connectFrame(headers)); err != nil {
		t.close()
		return nil, contextError(ctx, err)
	}
	if err := c.connected(); err != nil {
		t.close()
		return nil, contextError(ctx, err)
	}
	return c, nil
}

// connected reads the answer to CONNECT; a server that gives no version
// (NATS) is taken as STOMP 1.0.
func (c *conn) connected() error {
	f, err := c.next()
	if err != nil {
		return err
	}
	switch f.Command {
	case stomp.CONNECTED:
	case stomp.ERROR:
		return frameError(f)
	default:
		return fmt.Errorf("server answered CONNECT with %s", f.Command)
	}
	switch v, _ := f.Get("version"); string(v) {
	case "1.2":
		c.version = stomp.V12
	case "1.1":
		c.version = stomp.V11
	default:
		c.version = stomp.V10
	}
	c.dec.SetVersion(c.version)
	return nil
}

// contextError prefers the context's reason when it cut the handshake short.
func contextError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// frameError turns an ERROR frame into an error.
func frameError(f *stomp.Frame) error {
	msg := f.Value("message")
	if len(f.Body) > 0 {
		msg += ": " + string(f.Body)
	}
	return errors.New("server sent ERROR: " + msg)
}

// run starts the reader; onEnd is called with the reason if it stops
// before close was called.
func (c *conn) run(onEnd func(error)) {
	go func() {
		defer close(c.done)
		c.err = c.readLoop()
		if !c.closing.Load() {
			onEnd(c.err)
		}
	}()
}

func (c *conn) readLoop() error {
	for {
		f, err := c.next()
		if err != nil {
			return err
		}
		switch f.Command {
		case stomp.MESSAGE:
			if c.onMessage != nil {
				c.onMessage(c, f)
			}
		case stomp.RECEIPT:
			if c.onReceipt != nil && c.onReceipt(f) {
				continue
			}
			select {
			case c.receipts <- f.Value("receipt-id"):
			default: // nobody waits for it any more
			}
		case stomp.ERROR:
			return frameError(f)
		}
	}
}

// next returns the next frame, reading when what was read is used up.
func (c *conn) next() (*stomp.Frame, error) {
	for {
		for len(c.rest) > 0 {
			n, f, err := c.dec.Decode(c.rest)
			c.rest = c.rest[n:]
			if err != nil {
				return nil, err
			}
			if f != nil {
				return f, nil
			}
		}
		if c.afterRead != nil {
			c.afterRead()
		}
		p, err := c.t.read()
		if err != nil {
			return nil, err
		}
		if c.clock != nil {
			c.readNs = c.clock.now()
		}
		c.rest = p
	}
}

// writeFlush sends one frame at once.
func (c *conn) writeFlush(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.t.write(frame, nil); err != nil {
		return err
	}
	return c.t.flush()
}

// batch runs fill, which writes frames to the transport, then flushes.
func (c *conn) batch(fill func(t transport) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := fill(c.t); err != nil {
		return err
	}
	return c.t.flush()
}

// subscribe subscribes to dest with a receipt, and waits for it; extra
// headers (such as where a stream resumes) go into the SUBSCRIBE.
func (c *conn) subscribe(ctx context.Context, id int, dest, ack string, prefetch int, extra ...header) error {
	f, receipt := c.proto.subscribeFrame(id, dest, ack, prefetch, extra, c.version)
	if err := c.writeFlush(f); err != nil {
		return err
	}
	return c.awaitReceipt(ctx, receipt)
}

// awaitReceipt waits for the RECEIPT with id.
func (c *conn) awaitReceipt(ctx context.Context, id string) error {
	timer := time.NewTimer(handshakeTimeout)
	defer timer.Stop()
	for {
		select {
		case got := <-c.receipts:
			if got == id {
				return nil
			}
		case <-c.done:
			return fmt.Errorf("waiting for receipt %s: %w", id, c.err)
		case <-timer.C:
			return fmt.Errorf("no RECEIPT for %s within %v (stompbench needs the server to answer receipt headers)", id, handshakeTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var (
	keyID           = []byte("id")
	keySubscription = []byte("subscription")
	keyMessageID    = []byte("message-id")
)

// ack acknowledges a MESSAGE in client-individual mode. It is called by
// the reader; the acknowledgements go out when the reader has handled all
// it read (flushAcks).
func (c *conn) ack(f *stomp.Frame) { c.ackAsking(f, "") }

// ackAsking is ack whose ACK asks for the RECEIPT receipt, unless "".
func (c *conn) ackAsking(f *stomp.Frame, receipt string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := stomp.AppendCommand(c.scratch[:0], stomp.ACK)
	switch c.version {
	case stomp.V12:
		id, _ := f.Get("ack")
		b = stomp.AppendHeader(b, stomp.ACK, keyID, id, c.version)
	case stomp.V11:
		sub, _ := f.Get("subscription")
		b = stomp.AppendHeader(b, stomp.ACK, keySubscription, sub, c.version)
		fallthrough
	default:
		mid, _ := f.Get("message-id")
		b = stomp.AppendHeader(b, stomp.ACK, keyMessageID, mid, c.version)
	}
	if receipt != "" {
		b = stomp.AppendHeaderString(b, stomp.ACK, "receipt", receipt, c.version)
	}
	c.scratch = stomp.AppendBody(b, nil)
	if c.t.write(c.scratch, nil) == nil {
		c.dirty = true
	}
}

// flushAcks sends the acknowledgements written since the last flush. A
// write error shows again on the reader's next read.
func (c *conn) flushAcks() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dirty {
		c.dirty = false
		_ = c.t.flush()
	}
}

// close ends the connection: when polite, DISCONNECT with a receipt (a
// PING over NATS), and a wait of at most wait for it.
func (c *conn) close(polite bool, wait time.Duration) {
	c.closing.Store(true)
	if polite {
		f, receipt := c.proto.disconnectFrame(c.version)
		if c.writeFlush(f) == nil {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			_ = c.awaitReceipt(ctx, receipt)
			cancel()
		}
	}
	c.t.close()
	<-c.done
}
