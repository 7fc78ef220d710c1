package broker

// Read buffers start small, so that idle connections cost little, and double
// while reads fill them, up to maxReadBuffer. A quiet read, shorter than
// quietRead, suggests the client has paused: the buffer goes back to
// minReadBuffer, so that a connection gone quiet after a burst does not keep
// a large one, and the decoder releases the buffer of the last frame that
// spread over reads. Reads from a busy client are seldom that short, so
// buffers do not swing between sizes.
const (
	minReadBuffer = 512
	maxReadBuffer = 64 << 10
	quietRead     = minReadBuffer / 2
)

// readBuffer is a connection's read buffer, grown lazily.
type readBuffer struct {
	b []byte
}

// next returns the buffer to read into, allocating it on first use.
func (r *readBuffer) next() []byte {
	if r.b == nil {
		r.b = make([]byte, minReadBuffer)
	}
	return r.b
}

// filled notes that a read returned n bytes, growing the buffer when the
// read filled it and shrinking it after a quiet read. The bytes read stay
// valid: a new buffer replaces the old one.
func (r *readBuffer) filled(n int) {
	switch {
	case n == len(r.b) && len(r.b) < maxReadBuffer:
		r.b = make([]byte, 2*len(r.b))
	case n < quietRead && len(r.b) > minReadBuffer:
		r.b = make([]byte, minReadBuffer)
	}
}
