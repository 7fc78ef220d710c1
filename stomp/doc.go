// Package stomp is the STOMP 1.0, 1.1 and 1.2 frame codec of stompd: an
// incremental Decoder without I/O, fed bytes by the TCP and WebSocket readers
// alike, and encoders that append a frame's wire form to a byte slice.
//
// # Decoding
//
// A Decoder is fed bytes as they arrive and returns each frame once its
// terminating NUL has been read. It accepts LF and CRLF line endings in every
// version, and consumes EOL heart-beats (LF or CRLF) and stray NULs between
// frames without producing a frame. A frame's body is exactly content-length bytes followed
// by a NUL when the frame has a content-length header (the first one counts,
// as for every repeated header), and runs to the first NUL otherwise.
//
// Header lines are unescaped as the version set with SetVersion requires:
// "\r", "\n", "\c" and "\\" in STOMP 1.2 (the default), the same without "\r" in
// 1.1, nothing in 1.0, and nothing in the CONNECT, STOMP and CONNECTED frames
// of any version. An undefined escape, including a backslash that ends a key
// or value, is an error. The decoder is strict where the STOMP grammar is
// clear and safety is at stake: a header line needs a non-empty name before
// its first colon (the grammar's header-name is 1*OCTET), and may hold
// neither a CR other than its EOL's nor a NUL. It is lenient where clients
// differ: a value may hold further raw colons (STOMP 1.0 and CONNECT frames
// need them), and a body is accepted on any command, leaving that rule to
// the broker.
//
// # Ownership
//
// The *Frame that Decode returns, its Headers and every byte slice in it
// alias the Decoder's storage and are valid only until the next call to
// Decode; Frame.Clone makes a copy to keep. When a frame starts and ends in
// the same input p, it is sliced from p without copying, and its headers
// are unescaped in place, so Decode may overwrite the bytes of p it
// consumes; the caller must leave p unchanged while it uses the frame. A
// frame spread over several inputs is gathered in a buffer the Decoder
// reuses from frame to frame (one of more than 256 KiB is released after
// its frame), so decoding allocates nothing in steady state.
//
// # Limits
//
// A Decoder enforces its Limits as bytes arrive, before it buffers them:
// MaxHeaderLine bounds the command line and each header line (EOL
// excluded), MaxHeaders the number of header lines, MaxBodySize the body,
// and MaxFrameSize the whole frame from the first byte of its command to its
// NUL (heart-beats and NULs between frames do not count). A declared
// content-length is checked against MaxBodySize and MaxFrameSize as soon as
// its header line ends, before any of the body arrives, and is never
// allocated in advance: the buffer of a frame spread over several inputs
// grows only with the bytes that actually came. Each violation is a *ProtocolError wrapping its own
// sentinel (ErrHeaderLineTooLong, ErrTooManyHeaders, ErrBodyTooLarge,
// ErrFrameTooLarge) with a Detail that names the size seen and the limit,
// such as "body of 2000000 bytes exceeds the limit of 1048576" (or "of at
// least" while the frame is still arriving). The limit reported is the one
// the input breaks first, so it does not depend on how the bytes were split.
// SetLimits changes the limits between frames.
//
// # Encoding
//
// AppendFrame, AppendCommand, AppendHeader, AppendHeaderString,
// AppendContentLength and AppendBody append to dst and return the extended
// slice, like strconv's Append functions, and allocate only when dst must
// grow. They escape header keys and values as the version requires; where
// no escaping applies (STOMP 1.0, CONNECT and CONNECTED), bytes a header
// line cannot carry are written as spaces, so that a header from one peer
// can never become two in the frame sent to another. AppendFrame adds no
// content-length header of its own: a caller whose body may hold a NUL
// writes one, with AppendContentLength.
//
// # Concurrency
//
// A Decoder is not safe for concurrent use: each connection's reader owns
// one. The encoders and ParseCommand are pure functions, safe to call from
// any goroutine. The package does no I/O and does not log.
package stomp
