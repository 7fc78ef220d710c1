package stomp

import (
	"bytes"
	"fmt"
)

// state is where the Decoder stands within a frame.
type state uint8

const (
	stateCommand    state = iota // heart-beat EOLs, then the command line
	stateHeaders                 // header lines up to the blank line
	stateBodyLength              // a body whose length content-length declared, then NUL
	stateBodyNull                // a body that ends at the first NUL
)

// maxRetained is the largest frame buffer a Decoder keeps between frames;
// a larger one, grown for an exceptional frame, is released after it.
const maxRetained = 256 << 10

// span locates one header's key and value by their offsets in the frame.
type span struct {
	keyStart, keyEnd, valueStart, valueEnd int
}

// Decoder is an incremental STOMP frame decoder without I/O: readers feed it
// bytes as they arrive. See the package documentation for ownership of the
// frames it returns and the limits it enforces.
type Decoder struct {
	limits  Limits
	version Version

	state   state
	command Command
	spans   []span // the frame's headers so far
	length  int    // the declared content-length, or -1 when none was seen
	line    int    // frame offset where the current line starts
	body    int    // frame offset where the body starts
	size    int    // bytes of the frame consumed so far, from its command

	// The frame's bytes are in[base:base+size] while it lies in the
	// current input, and buf, which then holds size bytes, once it has
	// spread over several.
	in   []byte // the input of the current Decode call
	n    int    // bytes of in consumed so far
	end  int    // the end of the part of in the frame may still take
	base int
	buf  []byte

	headers []Header
	frame   Frame
	err     error
}

// NewDecoder returns a Decoder that enforces l (zero fields meaning the
// defaults) and applies STOMP 1.2 header escaping until SetVersion says
// otherwise.
func NewDecoder(l Limits) *Decoder {
	return &Decoder{limits: l.withDefaults(), version: V12, length: -1}
}

// SetLimits changes the limits. Set between frames, they apply to the next
// frame; set in the middle of a frame, to the bytes that arrive after.
func (d *Decoder) SetLimits(l Limits) { d.limits = l.withDefaults() }

// SetVersion sets the negotiated protocol version, which decides header
// unescaping: none for V10, "\n \c \\" for V11, and also "\r" for V12. The
// headers of CONNECT, STOMP and CONNECTED frames are never unescaped.
func (d *Decoder) SetVersion(v Version) { d.version = v }

// Decode consumes bytes from p. It returns how many bytes it consumed and,
// when a frame completed, that frame (nil otherwise). The frame aliases the
// decoder's storage and possibly p, and is valid until the next call to
// Decode. Decode may overwrite the bytes of p it consumes (it unescapes
// headers in place). Heart-beat EOLs and stray NULs between frames are
// consumed and produce no frame. After an error the decoder is unusable; the error is a
// *ProtocolError wrapping one of the sentinel errors.
//
// Callers loop until p is used up:
//
//	for len(p) > 0 {
//		n, f, err := d.Decode(p)
//		p = p[n:]
//		...
//	}
func (d *Decoder) Decode(p []byte) (n int, f *Frame, err error) {
	if d.err != nil {
		return 0, nil, d.err
	}
	d.in, d.n, d.base = p, 0, 0
	f, err = d.run()
	if f == nil && err == nil && !d.buffered() && d.size > 0 {
		// The frame continues in a later input: keep what came of it so far.
		d.buf = append(d.buf, p[d.base:d.base+d.size]...)
	}
	n = d.n
	d.in = nil
	return n, f, err
}

// run advances through the input until a frame completes, an error occurs
// or the input is used up.
func (d *Decoder) run() (*Frame, error) {
	for d.n < len(d.in) {
		if d.state == stateCommand && d.size == 0 {
			if d.skipHeartbeats(); d.n == len(d.in) {
				return nil, nil
			}
		}
		if err := d.setEnd(); err != nil {
			return nil, err
		}
		var done bool
		var err error
		switch d.state {
		case stateCommand, stateHeaders:
			err = d.readLine()
		case stateBodyLength:
			done, err = d.readSizedBody()
		case stateBodyNull:
			done, err = d.readBody()
		}
		if err != nil {
			return nil, err
		}
		if done {
			return d.complete(), nil
		}
	}
	return nil, nil
}

// setEnd bounds the input the states may look at to what MaxFrameSize
// leaves of the frame. Each state checks its own limits within that view,
// so the limit reported is the one the input breaks first, however its
// bytes arrive.
func (d *Decoder) setEnd() error {
	d.end = len(d.in)
	max := d.limits.MaxFrameSize
	if max < 0 || d.end-d.n <= max-d.size {
		return nil
	}
	if d.size >= max {
		return d.fail(ErrFrameTooLarge, "frame of at least %d bytes exceeds the limit of %d", max+1, max)
	}
	d.end = d.n + max - d.size
	return nil
}

// skipHeartbeats consumes the LF and CRLF heart-beats before a frame, and
// stray NULs, which some clients send after a frame's own (RabbitMQ skips
// them too). A CR that ends the input is left for readLine, which treats
// the empty line it may start as a heart-beat too.
func (d *Decoder) skipHeartbeats() {
	for d.n < len(d.in) {
		switch {
		case d.in[d.n] == '\n' || d.in[d.n] == 0:
			d.n++
		case d.in[d.n] == '\r' && d.n+1 < len(d.in) && d.in[d.n+1] == '\n':
			d.n += 2
		default:
			d.base = d.n
			return
		}
	}
}

// buffered reports whether the frame's bytes are in buf rather than in.
func (d *Decoder) buffered() bool { return len(d.buf) > 0 }

// mem returns the bytes of the current frame consumed so far.
func (d *Decoder) mem() []byte {
	if d.buffered() {
		return d.buf
	}
	return d.in[d.base : d.base+d.size]
}

// take consumes k bytes of input into the frame.
func (d *Decoder) take(k int) {
	if d.buffered() {
		d.buf = append(d.buf, d.in[d.n:d.n+k]...)
	}
	d.n += k
	d.size += k
}

// readLine consumes input up to and including the next LF, checking the
// line's length as it arrives, and hands a completed line to the command
// or header parser.
func (d *Decoder) readLine() error {
	rest := d.in[d.n:d.end]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if err := d.checkPartialLine(rest); err != nil {
			return err
		}
		d.take(len(rest))
		return nil
	}
	d.take(i + 1)
	start := d.line
	line := d.mem()[start : d.size-1]
	d.line = d.size
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if over(d.limits.MaxHeaderLine, len(line)) {
		return d.fail(ErrHeaderLineTooLong, "%s of %d bytes exceeds the limit of %d", d.lineName(), len(line), d.limits.MaxHeaderLine)
	}
	if d.state == stateCommand {
		return d.commandLine(line)
	}
	return d.headerLine(start, line)
}

// checkPartialLine fails when the line under way, extended by rest (which
// holds no LF), is already longer than MaxHeaderLine. One byte of slack is
// left for a final CR, which belongs to the EOL.
func (d *Decoder) checkPartialLine(rest []byte) error {
	max := d.limits.MaxHeaderLine
	n := d.size - d.line + len(rest)
	if !over(max, n) || (n == max+1 && rest[len(rest)-1] == '\r') {
		return nil
	}
	if rest[len(rest)-1] == '\r' {
		n--
	}
	return d.fail(ErrHeaderLineTooLong, "%s of at least %d bytes exceeds the limit of %d", d.lineName(), n, max)
}

func (d *Decoder) lineName() string {
	if d.state == stateCommand {
		return "command line"
	}
	return "header line"
}

// commandLine handles a completed command line. An empty one is a CRLF
// heart-beat whose CR ended an earlier input.
func (d *Decoder) commandLine(line []byte) error {
	if len(line) == 0 {
		d.restart()
		return nil
	}
	d.command = ParseCommand(line)
	if d.command == 0 {
		return d.fail(ErrUnknownCommand, "unknown command %s", quote(line))
	}
	d.state = stateHeaders
	return nil
}

// headerLine handles a completed header line that starts at frame offset
// start; the blank line ends the headers.
func (d *Decoder) headerLine(start int, line []byte) error {
	if len(line) == 0 {
		return d.endHeaders()
	}
	if over(d.limits.MaxHeaders, len(d.spans)+1) {
		return d.fail(ErrTooManyHeaders, "header %d exceeds the limit of %d headers", len(d.spans)+1, d.limits.MaxHeaders)
	}
	if err := d.checkHeaderBytes(line); err != nil {
		return err
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return d.fail(ErrMalformedHeader, "header line %s has no name before a colon", quote(line))
	}
	s := span{keyStart: start, keyEnd: start + colon, valueStart: start + colon + 1, valueEnd: start + len(line)}
	if escapes(d.command, d.version) {
		if err := d.unescapeSpan(&s); err != nil {
			return err
		}
	}
	d.spans = append(d.spans, s)
	mem := d.mem()
	if d.length < 0 && string(mem[s.keyStart:s.keyEnd]) == "content-length" {
		return d.setLength(mem[s.valueStart:s.valueEnd])
	}
	return nil
}

// checkHeaderBytes rejects the bytes a header line may not hold: a CR
// other than the EOL's, and NUL, which most likely means a frame lost its
// blank line.
func (d *Decoder) checkHeaderBytes(line []byte) error {
	if bytes.IndexByte(line, '\r') >= 0 {
		return d.fail(ErrMalformedHeader, "header line %s holds a CR that does not end it", quote(line))
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return d.fail(ErrMalformedHeader, "header line %s holds a NUL", quote(line))
	}
	return nil
}

// unescapeSpan unescapes a header's key and value in place and shortens
// the span to match.
func (d *Decoder) unescapeSpan(s *span) error {
	mem := d.mem()
	n, err := unescape(mem[s.keyStart:s.keyEnd], d.version)
	if err != nil {
		return d.fail(ErrInvalidEscape, "%s in header name %s (STOMP %s)", err, quote(mem[s.keyStart:s.keyEnd]), d.version)
	}
	s.keyEnd = s.keyStart + n
	n, err = unescape(mem[s.valueStart:s.valueEnd], d.version)
	if err != nil {
		return d.fail(ErrInvalidEscape, "%s in the value of header %s (STOMP %s)", err, quote(mem[s.keyStart:s.keyEnd]), d.version)
	}
	s.valueEnd = s.valueStart + n
	return nil
}

// setLength records the frame's content-length, checking it against
// MaxBodySize before any of the body arrives.
func (d *Decoder) setLength(v []byte) error {
	n, ok := parseLength(v)
	if !ok {
		return d.fail(ErrBadContentLength, "content-length %s is not a decimal number of bytes", quote(v))
	}
	if over(d.limits.MaxBodySize, n) {
		return d.fail(ErrBodyTooLarge, "body of %s bytes exceeds the limit of %d", v, d.limits.MaxBodySize)
	}
	d.length = n
	return nil
}

// endHeaders handles the blank line: the body comes next, and when its
// length is declared the whole frame's size is known and checked now.
func (d *Decoder) endHeaders() error {
	d.body = d.size
	if d.length < 0 {
		d.state = stateBodyNull
		return nil
	}
	if total := d.size + d.length + 1; over(d.limits.MaxFrameSize, total) {
		return d.fail(ErrFrameTooLarge, "frame of %d bytes exceeds the limit of %d", total, d.limits.MaxFrameSize)
	}
	d.state = stateBodyLength
	return nil
}

// readSizedBody consumes the content-length bytes of the body, then its NUL.
func (d *Decoder) readSizedBody() (done bool, err error) {
	if need := d.body + d.length - d.size; need > 0 {
		d.take(min(need, d.end-d.n))
		return false, nil
	}
	if c := d.in[d.n]; c != 0 {
		return false, d.fail(ErrMissingNull, "the %d-byte body that content-length declared is followed by %q, not NUL", d.length, c)
	}
	d.take(1)
	return true, nil
}

// readBody consumes a body up to and including its NUL, checking
// MaxBodySize as the bytes arrive.
func (d *Decoder) readBody() (done bool, err error) {
	rest := d.in[d.n:d.end]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		if n := d.size - d.body + len(rest); over(d.limits.MaxBodySize, n) {
			return false, d.fail(ErrBodyTooLarge, "body of at least %d bytes exceeds the limit of %d", n, d.limits.MaxBodySize)
		}
		d.take(len(rest))
		return false, nil
	}
	if n := d.size - d.body + i; over(d.limits.MaxBodySize, n) {
		return false, d.fail(ErrBodyTooLarge, "body of %d bytes exceeds the limit of %d", n, d.limits.MaxBodySize)
	}
	d.take(i + 1)
	return true, nil
}

// complete builds the frame from the spans (the last byte consumed is the
// body's NUL) and resets the decoder for the next frame, whose bytes do not
// touch this one's storage before the next call to Decode.
func (d *Decoder) complete() *Frame {
	mem := d.mem()
	d.headers = d.headers[:0]
	for _, s := range d.spans {
		d.headers = append(d.headers, Header{
			Key:   mem[s.keyStart:s.keyEnd:s.keyEnd],
			Value: mem[s.valueStart:s.valueEnd:s.valueEnd],
		})
	}
	end := d.size - 1
	d.frame = Frame{Command: d.command, Headers: d.headers, Body: mem[d.body:end:end]}
	d.state, d.command, d.length = stateCommand, 0, -1
	d.spans = d.spans[:0]
	d.body = 0
	d.restart()
	return &d.frame
}

// restart starts the frame afresh at the current input position: after a
// complete frame, or a heart-beat consumed as an empty command line.
func (d *Decoder) restart() {
	d.line, d.size = 0, 0
	d.base = d.n
	if cap(d.buf) > maxRetained {
		d.buf = nil
	}
	d.buf = d.buf[:0]
}

// Release frees the buffer that holds a frame spread over several inputs,
// if no frame is in progress, so that a decoder waiting for input that may
// be long in coming does not keep the largest such frame it has seen (a
// CONNECT carrying a token, say). The buffer is allocated again when a frame
// next spreads over inputs. The frame last returned becomes invalid. In the
// middle of a frame, Release does nothing.
func (d *Decoder) Release() {
	if d.state != stateCommand || d.size > 0 || d.err != nil {
		return
	}
	d.buf, d.frame = nil, Frame{}
}

// Partial reports whether the decoder holds part of a frame: bytes of it
// have come and its end has not.
func (d *Decoder) Partial() bool { return d.err == nil && d.size > 0 }

// Held returns the bytes of memory the decoder holds for a frame spread
// over several inputs while Partial, and 0 otherwise: the room of the
// buffer it copies such a frame into.
func (d *Decoder) Held() int {
	if !d.Partial() {
		return 0
	}
	return cap(d.buf)
}

func (d *Decoder) fail(err error, format string, args ...any) error {
	d.err = &ProtocolError{Err: err, Detail: fmt.Sprintf(format, args...)}
	return d.err
}

// over reports whether n exceeds limit, a negative limit meaning none.
func over(limit, n int) bool { return limit >= 0 && n > limit }

// parseLength parses a content-length value: decimal digits only, with no
// sign or space. A value too large for an int saturates at maxInt, which
// every body limit rejects.
func parseLength(b []byte) (n int, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if digit := int(c - '0'); n <= (maxInt-digit)/10 {
			n = n*10 + digit
		} else {
			n = maxInt
		}
	}
	return n, true
}

const maxInt = int(^uint(0) >> 1)

// quote renders peer bytes for an error detail, cut to a readable length.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
