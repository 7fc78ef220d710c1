package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/stompd/stompd/stomp"
)

// Bus carries the messages of topics and user destinations between the
// nodes of a cluster (Options.Bus). The broker fans every message out to
// its own subscribers first, then hands it to the bus; messages from other
// nodes come back through Broker.Deliver, which fans them out locally only.
//
// The broker owns the encoding of a message between nodes; a bus moves
// the bytes as they are, and hands Deliver none of its own node's messages.
// The messages one node publishes to one destination must reach every
// other node in the order of the Publish calls.
//
// All methods must be safe for concurrent use, must not block and must not
// call back into the broker: they are called on the publishers' and
// subscribers' paths, Listen under the lock of the broker's destinations.
type Bus interface {
	// Publish hands msg, a message to dest, to the other nodes. The bus
	// owns msg from then on; the broker never changes it.
	Publish(dest string, msg []byte)
	// Listen asks for the messages other nodes publish to dest, and Unlisten
	// stops them. The broker calls Listen when dest gets its first local
	// subscriber and Unlisten when it loses its last; made concurrently for
	// one destination, the two may arrive in either order, so the bus
	// listens on dest while it had more Listen than Unlisten calls for it.
	//
	// The channel Listen returns is closed once the bus listens on dest:
	// from then on, every message published to dest on any node reaches
	// this one. It is closed without that when the bus knows it cannot
	// listen now (its connection to the other nodes is down), and when
	// dest is no longer listened to. Until it is closed, at most
	// ListenWait, the broker holds back the SUBSCRIBEs to dest.
	Listen(dest string) (ready <-chan struct{})
	Unlisten(dest string)
}

// ListenWait bounds how long a SUBSCRIBE waits for the Bus to listen on
// its destination before it takes effect anyway, locally. A client that
// promised heart-beats waits at most one of its intervals, so that the
// wait, during which its reader reads nothing, never makes it look silent.
const ListenWait = 5 * time.Second

// awaitListen waits, in c's reader, until ready is closed, for at most
// ListenWait (or c's heart-beat interval) or until c's context is done.
func (c *conn) awaitListen(ready <-chan struct{}) {
	select {
	case <-ready:
		return
	default:
	}
	limit := ListenWait
	if every := time.Duration(c.recvEvery.Load()); every > 0 {
		limit = min(limit, every)
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-ready:
	case <-c.ctx.Done():
	case <-timer.C:
	}
}

// ErrNotMessage is returned by Deliver for bytes that are not a message
// to a topic or user destination as a broker encodes it for its Bus.
var ErrNotMessage = errors.New("broker: not a message from another node")

// appendWire appends m's form between nodes: a MESSAGE frame in STOMP 1.2
// with its destination, content-length and the sender's headers.
func (m *message) appendWire(dst []byte) []byte { return m.appendFrame(dst, stomp.MESSAGE) }

// wireLen is the length of m's form between nodes, so that appendWire
// allocates once.
func (m *message) wireLen() int { return len("MESSAGE\n") + m.frameSize() }

// decoders holds Deliver's decoders, which take no limits: what comes from
// other nodes was checked by them.
var decoders = sync.Pool{New: func() any {
	return stomp.NewDecoder(stomp.Limits{MaxBodySize: -1, MaxHeaders: -1, MaxHeaderLine: -1, MaxFrameSize: -1})
}}

// Deliver fans out msg, a message another node published (bytes its
// broker handed to Bus.Publish), to this node's subscribers of its
// destination, and never hands it to the bus again. It takes msg over and
// may change it. Calls made one after the other deliver in that order; it
// is safe for concurrent use. It fails with ErrNotMessage when msg is not
// such a message, which it then drops and counts.
func (b *Broker) Deliver(msg []byte) error {
	m, err := b.decodeWire(msg, false)
	if err != nil {
		b.m.dropMalformed.Inc()
		return err
	}
	if !b.r.fanOut(m) {
		b.m.dropNoSubscriber.Inc()
	}
	return nil
}

// decodeWire rebuilds a message from its form between nodes, with room
// for stream headers when it is to be numbered.
func (b *Broker) decodeWire(msg []byte, numbered bool) (*message, error) {
	d := decoders.Get().(*stomp.Decoder)
	n, f, err := d.Decode(msg)
	if err != nil || f == nil || n != len(msg) || f.Command != stomp.MESSAGE {
		return nil, ErrNotMessage // d, perhaps holding part of a frame, is not reused
	}
	defer decoders.Put(d)
	dest, _ := f.Get("destination")
	rt, err := sendRoute(dest)
	if err != nil || rt.kind == kindQueue {
		return nil, ErrNotMessage
	}
	return newMessageFor(f, rt.key, rt.kind, b.messageSeq.Add(1), time.Now(), numbered), nil
}
