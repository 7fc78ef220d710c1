package broker

import "sync"

// Read buffers start small, so that idle connections cost little, and double
// while reads fill them, up to maxReadBuffer. A quiet read, shorter than
// quietRead, suggests the client has paused: once its bytes are handled the
// connection gives its buffer up (rest), so that a connection gone quiet
// holds none while it waits, and the decoder releases the buffer of the last
// frame that spread over reads, unless the client's next bytes already wait
// (a WebSocket's reads end with each message, however busy the client; see
// transport.pending). The next read takes a minReadBuffer one from
// a pool. Reads from a busy client are seldom that short, so buffers do not
// swing between sizes.
const (
	minReadBuffer = 512
	maxReadBuffer = 64 << 10
	quietRead     = minReadBuffer / 2
)

// smallReadBufs pools the minReadBuffer buffers of quiet connections.
var smallReadBufs = sync.Pool{New: func() any { return new([minReadBuffer]byte) }}

// readBuffer is a connection's read buffer, taken lazily.
type readBuffer struct {
	b     []byte
	small *[minReadBuffer]byte // b's array while b is a pooled buffer
	quiet bool                 // the last read was quiet
}

// next returns the buffer to read into, taking a small one from the pool
// when the connection holds none.
func (r *readBuffer) next() []byte {
	if r.b == nil {
		r.small = smallReadBufs.Get().(*[minReadBuffer]byte)
		r.b = r.small[:]
	}
	return r.b
}

// filled notes that a read returned n > 0 bytes, growing the buffer when the
// read filled it. The bytes read stay valid: a new buffer replaces the old
// one, which is not pooled again.
func (r *readBuffer) filled(n int) {
	r.quiet = n < quietRead
	if n == len(r.b) && len(r.b) < maxReadBuffer {
		r.b, r.small = make([]byte, 2*len(r.b)), nil
	}
}

// rest gives the buffer up while the latest read was quiet, once its bytes
// are handled: a small one back to the pool, a larger one to the
// collector. Until the next read it gives up the small buffer a read that
// found nothing (the end of a WebSocket message) took meanwhile.
func (r *readBuffer) rest() {
	if !r.quiet {
		return
	}
	if r.small != nil {
		smallReadBufs.Put(r.small)
	}
	r.b, r.small = nil, nil
}

// held reports whether the connection holds a buffer, which it does not
// while it rests after a quiet read.
func (r *readBuffer) held() bool { return r.b != nil }
