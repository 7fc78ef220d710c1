package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// Connections are opened and closed this many at a time.
const parallelConns = 32

// bench is one run: its connections, streams and ledgers.
type bench struct {
	cfg      config
	stderr   io.Writer
	tls      *tls.Config
	src      *sourceAddrs
	auth     *authClient
	runID    string
	clock    clock
	tp       *topology
	note     *notifier
	headers  []header // CONNECT headers
	extra    []header // headers of every SEND
	joined   atomic.Int64
	failed   chan struct{}
	stopPubs context.CancelFunc
	stall    *staller // with -stall

	mu    sync.Mutex
	conns []*conn
	err   error // the first failure
}

func newBench(cfg config, stderr io.Writer) *bench {
	b := &bench{cfg: cfg, stderr: stderr, runID: newRunID(), clock: clock{start: time.Now()}, failed: make(chan struct{})}
	b.tls = &tls.Config{InsecureSkipVerify: cfg.Insecure}
	b.src = newSourceAddrs(targetHost(&cfg), cfg.Subs+cfg.Pubs)
	b.tp = plan(&cfg, b.runID)
	b.note = newNotifier(len(b.tp.publishers))
	if cfg.Stall > 0 {
		b.stall = newStaller(b)
	}
	if cfg.AuthLogin != "" {
		b.auth = newAuthClient(cfg.authURLs())
	}
	return b
}

func newRunID() string {
	var id [4]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(id[:])
}

// targetHost is the host of the first node, from which the source
// addresses of many connections are chosen.
func targetHost(cfg *config) string {
	host, _ := targetHostOf(cfg.targets[0], cfg.WS != "") // checked by checkTarget
	return host
}

// dialerFor dials the node of the connection at index i of the side given:
// with n nodes, publisher i connects to node i mod n and subscriber i to
// node (i+1) mod n. One publisher and one subscriber thus sit on different
// nodes, and many subscribers split evenly over all of them.
func (b *bench) dialerFor(publisher bool, i int) dialer {
	if !publisher {
		i++
	}
	target := b.cfg.targets[i%len(b.cfg.targets)]
	if b.cfg.WS != "" {
		return dialer{wsURL: target, tls: b.tls}
	}
	return dialer{tcpAddr: target, tls: b.tls, nats: b.cfg.NATS != ""}
}

// run carries the run out: connect, publish, drain, disconnect. It returns
// an error only when the run could not start; a failure during the run is
// in the report. Cancelling ctx stops publishing early.
func (b *bench) run(ctx context.Context) (*report, error) {
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	b.stopPubs = stop
	if err := b.login(ctx); err != nil {
		return nil, err
	}
	rep := b.newReport()
	var rssBefore int64
	if b.cfg.Scenario == scenarioConns {
		var err error
		if rssBefore, err = b.prepareConns(); err != nil {
			return nil, err
		}
	}
	began := time.Now()
	if err := b.connectSubscribers(pubCtx); err != nil {
		b.closeAll(false)
		return nil, err
	}
	if b.cfg.Scenario == scenarioConns {
		rep.Conns = b.hold(pubCtx, time.Since(began), rssBefore)
	}
	pubs, err := b.connectPublishers(pubCtx)
	if err != nil {
		b.closeAll(false)
		return nil, err
	}
	warmNs := b.publish(pubCtx, pubs)
	b.closeAll(true)
	if b.auth != nil {
		b.auth.hc.CloseIdleConnections()
	}
	b.finish(rep, pubs, warmNs)
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// login gets the access token for -auth-login, which CONNECT carries, and
// each SEND too in the sendauth scenario; it also sets the other headers
// of every SEND (persistent:true with -persistent).
func (b *bench) login(ctx context.Context) error {
	token := b.cfg.bearer()
	if b.auth != nil {
		if err := b.auth.login(ctx, b.cfg.authEmail, b.cfg.authPassword); err != nil {
			return err
		}
		token = b.auth.access()
	}
	b.headers = b.connectHeaders(token)
	if b.cfg.Scenario == scenarioSendAuth {
		b.extra = []header{{Key: "Authorization", Value: "Bearer " + token}}
	}
	if b.cfg.Persistent {
		b.extra = append(b.extra, header{Key: "persistent", Value: "true"})
	}
	return nil
}

func (b *bench) connectHeaders(token string) []header {
	hs := []header{{"accept-version", "1.0,1.1,1.2"}, {"host", b.cfg.VHost}, {"heart-beat", "0,0"}}
	if b.cfg.Login != "" {
		hs = append(hs, header{"login", b.cfg.Login})
	}
	if b.cfg.Passcode != "" {
		hs = append(hs, header{"passcode", b.cfg.Passcode})
	}
	if b.auth != nil {
		hs = append(hs, header{"Authorization", "Bearer " + token})
	}
	return append(hs, b.cfg.Headers...)
}

// open connects one more STOMP connection through d, with a fresh
// ticket when the WebSocket upgrade needs one.
func (b *bench) open(ctx context.Context, d dialer, bufs buffers) (*conn, error) {
	c, err := b.dial(ctx, d, bufs, b.headers)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return c, nil
}

// dial connects through d with CONNECT headers, getting a fresh ticket
// first when the WebSocket upgrade needs one. Unlike open, it does not
// keep the connection for closeAll.
func (b *bench) dial(ctx context.Context, d dialer, bufs buffers, headers []header) (*conn, error) {
	if b.auth != nil && d.wsURL != "" {
		u, err := b.auth.ticketURL(ctx, d.wsURL)
		if err != nil {
			return nil, err
		}
		d.wsURL = u
	}
	return connect(ctx, d, bufs, b.src, headers, b.cfg.Size)
}

// fail records the first failure of the run and stops publishing.
func (b *bench) fail(err error) {
	if errors.Is(err, io.EOF) {
		err = errors.New("connection closed by the server")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
		close(b.failed)
		b.stopPubs()
	}
}

func (b *bench) connectSubscribers(ctx context.Context) error {
	bufs := busyBuffers
	if b.cfg.Scenario == scenarioConns {
		bufs = idleBuffers
	}
	total := len(b.tp.subscribers)
	stop := b.every(func(time.Duration) string { return fmt.Sprintf("connected %d/%d", b.joined.Load(), total) })
	defer stop()
	return forEach(total, func(i int) error {
		sub := b.tp.subscribers[i]
		c, err := b.open(ctx, b.dialerFor(false, i), bufs)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		b.receive(c, sub)
		onEnd := func(err error) { b.fail(fmt.Errorf("subscriber %d: %w", i, err)) }
		if sub.gate != nil {
			onEnd = sub.gate.onEnd(onEnd)
		}
		c.run(onEnd)
		for j, dest := range sub.dests {
			if err := c.subscribe(ctx, j, dest, sub.ack, b.cfg.Prefetch); err != nil {
				return fmt.Errorf("subscriber %d: SUBSCRIBE %s: %w", i, dest, err)
			}
		}
		b.joined.Add(1)
		return nil
	})
}

// receive makes c record every MESSAGE in the subscription's ledger, and
// acknowledge it in client-individual mode. A message arrived when the
// read that brought it returned.
func (b *bench) receive(c *conn, sub subscription) {
	led, acking, sent := sub.ledger, sub.ack != "auto", b.tp.sent
	c.clock = &b.clock
	c.onMessage = func(c *conn, f *stomp.Frame) {
		led.deliver(f.Body, c.readNs, sent)
		if acking {
			c.ack(f)
		}
	}
	c.afterRead = func() {
		if acking {
			c.flushAcks()
		}
		b.note.notify()
	}
	if sub.gate != nil {
		sub.gate.attach(c)
	}
}

func (b *bench) connectPublishers(ctx context.Context) ([]*publisher, error) {
	pubs := make([]*publisher, len(b.tp.publishers))
	err := forEach(len(pubs), func(i int) error {
		c, err := b.open(ctx, b.dialerFor(true, i), busyBuffers)
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		c.run(func(err error) { b.fail(fmt.Errorf("publisher %d: %w", i, err)) })
		pubs[i] = newPublisher(c, b.tp.publishers[i], b.cfg.Size, b.extra, &b.clock, pace{}, b.note, i)
		return nil
	})
	return pubs, err
}

// pace returns how publishers run when they start at startNs.
func (b *bench) pace(startNs int64) pace {
	if b.cfg.Scenario == scenarioConns {
		return pace{window: -1, count: 1, warmNs: startNs}
	}
	p := pace{rate: b.cfg.Rate, window: b.cfg.Window, count: b.cfg.Count, warmNs: startNs + int64(b.cfg.Warmup)}
	if b.cfg.Duration > 0 {
		p.stopNs = p.warmNs + int64(b.cfg.Duration)
	}
	return p
}

// publish runs the publishers to their end, then waits for the last
// deliveries. It returns when the warm-up ended.
func (b *bench) publish(ctx context.Context, pubs []*publisher) (warmNs int64) {
	startNs := b.clock.now()
	pc := b.pace(startNs)
	for _, l := range b.tp.ledgers {
		l.setWarm(pc.warmNs)
	}
	stop := b.every(b.rates(startNs))
	defer stop()
	endStall := b.startStall(ctx, pc.warmNs)
	var wg sync.WaitGroup
	for i, p := range pubs {
		p.pace = pc
		wg.Go(func() {
			if err := p.run(ctx); err != nil {
				b.fail(fmt.Errorf("publisher %d: %w", i, err))
			}
		})
	}
	wg.Wait()
	b.drain()
	endStall()
	return pc.warmNs
}

// drain waits until every expected message arrived, the run failed, or
// deliveries stalled for cfg.Drain.
func (b *bench) drain() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	lastChange := time.Now()
	for {
		t := b.tally()
		if t.received >= t.expected {
			return
		}
		if t.received != last {
			last, lastChange = t.received, time.Now()
		} else if time.Since(lastChange) >= b.cfg.Drain {
			return
		}
		select {
		case <-b.failed:
			return
		case <-tick.C:
		}
	}
}

func (b *bench) tally() tally {
	var t tally
	for _, l := range b.tp.ledgers {
		l.tally(&t, b.tp.sent)
	}
	return t
}

// closeAll closes every connection, politely (DISCONNECT and its receipt)
// when the run got as far as publishing.
func (b *bench) closeAll(polite bool) {
	b.mu.Lock()
	conns := b.conns
	b.mu.Unlock()
	_ = forEach(len(conns), func(i int) error {
		conns[i].close(polite, time.Second)
		return nil
	})
}

// forEach runs fn for 0 to n-1 on up to parallelConns goroutines and
// returns the first error; once one failed, no new call starts.
func forEach(n int, fn func(i int) error) error {
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		mu     sync.Mutex
		first  error
		failed atomic.Bool
	)
	for range min(n, parallelConns) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}
