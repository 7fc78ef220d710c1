package broker

import (
	"strings"

	"github.com/stompd/stompd/stomp"
)

// session is the STOMP state of a connection. Only the reader goroutine
// touches it, except version, which is fixed before CONNECTED is queued.
type session struct {
	dec      *stomp.Decoder
	version  stomp.Version
	id       string
	subs     map[string]*subscription // by the client's id
	bySerial map[uint64]*subscription // by the serial in ack ids
	serial   uint64
	txs      map[string]*transaction
	starting *subscription // attached by the frame being handled, to start once it took effect
	grants   grants        // the SENDs the Authorizer allowed (grants.go)
}

func (s *session) init(b *Broker) {
	s.dec = stomp.NewDecoder(b.o.limits(false))
	s.version = stomp.V10
	s.subs = make(map[string]*subscription)
	s.bySerial = make(map[uint64]*subscription)
	s.txs = make(map[string]*transaction)
}

// handle carries out one client frame and sends its RECEIPT once it took
// effect (with shared queues, a Journal or Streams, once the messages sent
// before it were stored, and the persistent ones it settled removed: see
// stores; the reader goes on meanwhile, but for a SUBSCRIBE or a
// DISCONNECT); a subscription the frame attached takes messages
// only after that, so that they follow the RECEIPT. It reports false when
// the session has ended.
func (c *conn) handle(f *stomp.Frame) bool {
	c.b.m.framesIn[f.Command].Inc()
	if err := c.dispatch(f); err != nil {
		receipt, _ := f.Get("receipt")
		c.fail(asFrameError(err), receipt)
		return false
	}
	receipt, ok := f.Get("receipt")
	ok = ok && f.Command != stomp.CONNECT && f.Command != stomp.STOMP
	if ok && (c.b.o.Queues != nil || c.b.o.Journal != nil || c.b.o.Streams != nil) {
		if c.starting == nil && f.Command != stomp.DISCONNECT && c.stores.deferReceipt(receipt) {
			return true
		}
		if err := c.waitStores(); err != nil {
			c.fail(asFrameError(err), receipt)
			return false
		}
	}
	switch s := c.starting; {
	case s != nil:
		c.starting = nil
		if !ok {
			receipt = nil
		}
		s.start(receipt)
	case ok:
		c.send(stomp.RECEIPT, c.receiptFrame(receipt))
	}
	if f.Command == stomp.DISCONNECT {
		c.closeWith(nil, "client disconnected")
		return false
	}
	return true
}

// waitStores waits for the stores before a RECEIPT that cannot be
// deferred (store.go). The reader reads nothing meanwhile, by its own
// choice: the client's heart-beats,
// waiting in the socket, count from the end of the wait.
func (c *conn) waitStores() error {
	c.storing.Store(true)
	defer c.storing.Store(false)
	err := c.stores.wait(c.ctx)
	if c.recvEvery.Load() > 0 {
		c.lastRead.Store(c.b.now().UnixNano())
	}
	return err
}

// handlers carry out each client frame of a connected session.
var handlers = [stomp.ERROR + 1]func(*conn, *stomp.Frame) error{
	stomp.SEND:        (*conn).onSend,
	stomp.SUBSCRIBE:   (*conn).onSubscribe,
	stomp.UNSUBSCRIBE: (*conn).onUnsubscribe,
	stomp.ACK:         (*conn).onAck,
	stomp.NACK:        (*conn).onAck,
	stomp.BEGIN:       (*conn).onBegin,
	stomp.COMMIT:      (*conn).onCommit,
	stomp.ABORT:       (*conn).onAbort,
	stomp.DISCONNECT:  func(*conn, *stomp.Frame) error { return nil },
	stomp.CONNECT:     (*conn).onSecondConnect,
	stomp.STOMP:       (*conn).onSecondConnect,
}

func (c *conn) dispatch(f *stomp.Frame) error {
	if !c.connected.Load() {
		return c.onConnect(f)
	}
	h := handlers[f.Command]
	if h == nil {
		return protocolErrorf("%s is not a frame a client sends", f.Command)
	}
	if err := c.authorizeCredential(f); err != nil {
		return err
	}
	return h(c, f)
}

// authorizeCredential asks the Authorizer about a frame that carries a
// credential and that its handler does not authorize (all but CONNECT,
// SEND and SUBSCRIBE), and adopts the identity it returns: any frame
// carrying a fresh token of the session's subject extends the session to
// that token's expiry. A frame without one is left alone: the session's
// deadline and CloseSessions end an expired or revoked session.
func (c *conn) authorizeCredential(f *stomp.Frame) error {
	switch f.Command {
	case stomp.SEND, stomp.SUBSCRIBE, stomp.CONNECT, stomp.STOMP:
		return nil
	}
	r := c.request(f)
	if r.Credential == (Credential{}) {
		return nil
	}
	return c.authorize(r)
}

func (c *conn) onSecondConnect(f *stomp.Frame) error {
	return protocolErrorf("already connected: a second %s frame", f.Command)
}

// receiptFrame encodes the RECEIPT for receipt id.
func (c *conn) receiptFrame(id []byte) []byte {
	b := make([]byte, 0, 24+len(id))
	b = stomp.AppendCommand(b, stomp.RECEIPT)
	b = stomp.AppendHeader(b, stomp.RECEIPT, []byte("receipt-id"), id, c.version)
	return stomp.AppendBody(b, nil)
}

// require returns the value of a header the frame must carry.
func require(f *stomp.Frame, key string) ([]byte, error) {
	v, ok := f.Get(key)
	if !ok || len(v) == 0 {
		return nil, protocolErrorf("%s frame without %s %s header", f.Command, article(key), key)
	}
	return v, nil
}

// article is the indefinite article before a header name: "an id", "a
// destination".
func article(key string) string {
	if key != "" && strings.ContainsRune("aeiou", rune(key[0])) {
		return "an"
	}
	return "a"
}

// adopt makes the identity a hook returned the session's own. It must name
// the same subject.
func (c *conn) adopt(id Identity) error {
	if id.Subject != c.identity().Subject {
		return forbiddenf("the Authorization header names another subject")
	}
	c.setIdentity(id)
	return nil
}

// endSession undoes what the session holds in the broker: it aborts its
// transactions and cancels its subscriptions, putting unacknowledged queue
// messages back.
func (c *conn) endSession() {
	for name, tx := range c.txs {
		c.abort(name, tx)
	}
	for _, s := range c.subs {
		c.unsubscribe(s)
	}
}
