package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Broker is a STOMP broker. It serves STOMP over TCP (Serve) and over
// WebSocket (ServeHTTP) with the same session code. All methods are safe
// for concurrent use.
type Broker struct {
	o        Options
	log      *slog.Logger
	m        *instruments
	h        hooks
	now      func() time.Time
	sysClock bool // now is the system clock: Options.Now was not set (see at)
	r        *router
	upgrader *websocket.Upgrader
	ctx      context.Context // cancelled by Shutdown once it gives up waiting
	cancel   context.CancelFunc
	tickMax  time.Duration // longest period of a connection's timer
	writers  writerPool    // goroutines for the connections' writer runs; closed with ctx

	sessionPrefix string
	sessionSeq    atomic.Uint64
	messageSeq    atomic.Uint64
	queuedBytes   atomic.Int64 // held by every queue's buffer
	partialBytes  atomic.Int64 // held by half-received frames and open transactions: see reserveUnfinished
	sweep         *time.Timer  // removes idle topics with history; nil without

	wg        sync.WaitGroup // one per connection
	mu        sync.Mutex     // guards the fields below
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perAddr   map[string]int // admitted connections per client host
	admitted  int            // admitted connections in all

	// authing holds the CONNECTs being authenticated and the CloseSessions
	// calls made meanwhile.
	authing map[*conn][]closure

	presence *presence
}

// New returns a Broker configured by o, its queues holding what
// o.Journal kept. It fails with ErrNoAuthorizer when o has no Authorizer
// and does not AllowAnonymous, and with the Journal's error when it
// cannot be loaded.
func New(o Options) (*Broker, error) {
	h, err := newHooks(&o)
	if err != nil {
		return nil, err
	}
	sysClock := o.Now == nil
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		o: o, log: o.Logger, m: newInstruments(o.Metrics), h: h, now: o.Now, sysClock: sysClock,
		upgrader: newUpgrader(), ctx: ctx, cancel: cancel, tickMax: time.Second,
		sessionPrefix: strconv.FormatInt(time.Now().UnixNano(), 36),
		listeners:     make(map[net.Listener]struct{}),
		conns:         make(map[*conn]struct{}),
		perAddr:       make(map[string]int),
		authing:       make(map[*conn][]closure),
	}
	context.AfterFunc(ctx, b.writers.close)
	b.r = newRouter(b)
	b.presence = newPresence(b)
	if o.Journal != nil {
		if err := o.Journal.Load(b.r.reload); err != nil {
			return nil, fmt.Errorf("broker: loading the persistent queue messages: %w", err)
		}
	}
	b.r.restoreHistories(o.Histories)
	b.startSweep()
	return b, nil
}

// Serve accepts STOMP connections on l until Shutdown, when it returns
// ErrServerClosed; it closes l. Any other accept error is returned as is.
func (b *Broker) Serve(l net.Listener) error {
	if !b.addListener(l) {
		l.Close()
		return ErrServerClosed
	}
	defer b.removeListener(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if b.isClosed() {
				return ErrServerClosed
			}
			if !retryable(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		b.accept(nc)
	}
}

// retryable reports whether an accept error is passing, such as running out
// of file descriptors (EMFILE), after which Serve waits and accepts again,
// as http.Server does.
func retryable(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return (errors.As(err, &t) && t.Temporary()) || (errors.As(err, &ne) && ne.Timeout())
}

// accept starts serving nc, or closes it when over a connection limit.
func (b *Broker) accept(nc net.Conn) {
	addr := nc.RemoteAddr().String()
	if b.admit(addr) != nil {
		nc.Close()
		return
	}
	c := b.newConn(&tcpTransport{nc: nc}, transportTCP, addr, "")
	_, c.tls = nc.(*tls.Conn)
	if !b.track(c) {
		nc.Close()
		return
	}
	go c.serve()
}

func (b *Broker) addListener(l net.Listener) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.listeners[l] = struct{}{}
	return true
}

func (b *Broker) removeListener(l net.Listener) {
	b.mu.Lock()
	delete(b.listeners, l)
	b.mu.Unlock()
	l.Close()
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// admit reserves a connection slot for a client address, within
// MaxConnections and MaxConnectionsPerAddr; it returns nil, or why not.
func (b *Broker) admit(remote string) *refusal {
	host := hostOf(remote)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return refusedShutdown
	case b.o.MaxConnections > 0 && b.admitted >= b.o.MaxConnections:
		return refusedTotal
	case b.o.MaxConnectionsPerAddr > 0 && b.perAddr[host] >= b.o.MaxConnectionsPerAddr:
		return refusedPerAddr
	}
	b.perAddr[host]++
	b.admitted++
	return nil
}

// release frees a slot admit reserved for a connection that never started.
func (b *Broker) release(remote string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(hostOf(remote))
}

func (b *Broker) releaseLocked(host string) {
	b.admitted--
	if b.perAddr[host]--; b.perAddr[host] <= 0 {
		delete(b.perAddr, host)
	}
}

// track registers an admitted connection; it fails after Shutdown began.
func (b *Broker) track(c *conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.releaseLocked(hostOf(c.remote))
		return false
	}
	b.conns[c] = struct{}{}
	b.wg.Add(1)
	b.m.accepted[c.kind].Inc()
	return true
}

func (b *Broker) untrack(c *conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.releaseLocked(hostOf(c.remote))
	b.mu.Unlock()
	b.wg.Done()
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// snapshot returns the live connections.
func (b *Broker) snapshot() []*conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	cs := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	return cs
}

// Shutdown stops accepting connections, sends every session an ERROR with
// code server-shutdown after what is already queued for it (pending
// receipts included), closes them and waits for all their goroutines. When
// ctx ends first it closes the remaining sockets at once, waits for the
// goroutines to notice and returns ctx.Err().
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	if b.sweep != nil {
		b.sweep.Stop()
	}
	for l := range b.listeners {
		l.Close()
	}
	b.mu.Unlock()
	fe := &frameError{code: CodeServerShutdown, message: "server shutting down"}
	for _, c := range b.snapshot() {
		c.fail(fe, nil)
	}
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		b.cancel()
		return nil
	case <-ctx.Done():
	}
	b.cancel()
	for _, c := range b.snapshot() {
		c.t.abort()
	}
	<-done
	return ctx.Err()
}

// CloseSessions ends every connected session whose identity match accepts,
// with an ERROR frame carrying code and message (for example after a
// logout), and returns how many it ended. A CONNECT being authenticated
// meanwhile, whose authenticator may have accepted a token just before it
// was revoked, is checked against match once its session is established,
// and ended likewise (not counted here).
func (b *Broker) CloseSessions(match func(Identity) bool, code, message string) int {
	n := 0
	cl := closure{match: match, fe: &frameError{code: code, message: message}}
	b.noteClosure(cl)
	for _, c := range b.snapshot() {
		if c.closeIf(cl) {
			n++
		}
	}
	return n
}

// closure is a CloseSessions call: which identities it ends, and its ERROR.
type closure struct {
	match func(Identity) bool
	fe    *frameError
}

// closeIf ends the established session with cl's ERROR when cl matches its
// identity, and reports whether it did.
func (c *conn) closeIf(cl closure) bool {
	return c.connected.Load() && cl.match(c.identity()) && c.fail(cl.fe, nil)
}

// watchClosures notes, from now until missedClosures, the CloseSessions
// calls that c's CONNECT could miss: those made while its identity is being
// established, which can see neither the identity nor the session. (A call
// made before is one the authenticator saw: its logout came first; one
// made after sees the established session.)
func (b *Broker) watchClosures(c *conn) {
	b.mu.Lock()
	b.authing[c] = nil
	b.mu.Unlock()
}

// missedClosures stops noting calls for c and returns those it noted.
func (b *Broker) missedClosures(c *conn) []closure {
	b.mu.Lock()
	defer b.mu.Unlock()
	missed := b.authing[c]
	delete(b.authing, c)
	return missed
}

// noteClosure hands a CloseSessions call to every CONNECT being
// authenticated.
func (b *Broker) noteClosure(cl closure) {
	b.mu.Lock()
	for c, missed := range b.authing {
		b.authing[c] = append(missed, cl)
	}
	b.mu.Unlock()
}

// at returns the time by Options.Now when the system clock read sys: sys
// itself when Options.Now is the system clock, so that one reading serves
// both (time.Now is a good part of what a SEND costs).
func (b *Broker) at(sys time.Time) time.Time {
	if b.sysClock {
		return sys
	}
	return b.now()
}
