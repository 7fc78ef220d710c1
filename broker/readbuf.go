package broker

// Read buffers start small, so that idle connections cost little, and double
// while reads fill them, up to maxReadBuffer.
const (
	minReadBuffer = 512
	maxReadBuffer = 64 << 10
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
// read filled it.
func (r *readBuffer) filled(n int) {
	if n == len(r.b) && len(r.b) < maxReadBuffer {
		r.b = make([]byte, 2*len(r.b))
	}
}
