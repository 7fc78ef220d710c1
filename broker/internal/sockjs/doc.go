// Package sockjs is the JSON framing of the SockJS protocol (0.3.3) as the
// broker's SockJS transport needs it: AppendText escapes bytes as the inside
// of a JSON string, the way a server writes the strings of an "a" message,
// and a Decoder reads the JSON a client sends, an array of strings or one
// string, back into the bytes those strings hold. Nothing here does I/O;
// the broker owns the socket and the "o", "a" and "c" messages around the
// JSON.
//
// # Encoding
//
// AppendText escapes quote, backslash and control characters, and the
// characters sockjs-protocol asks servers to escape because browsers mangle
// them; bytes that are not valid UTF-8 become \ufffd. It escapes what it is
// given as a whole, so a caller that escapes a long frame in pieces cuts
// them with RuneCut, so that no UTF-8 sequence is split between two pieces.
// AppendText allocates only when dst must grow.
//
// # Decoding
//
// A Decoder is fed a message in pieces of any size, as they are read, and
// appends the decoded bytes of its strings to a slice the caller gives; it
// keeps no reference to either. Finish ends a message and readies the
// Decoder for the next. A \u escape of a lone surrogate decodes to U+FFFD,
// as JavaScript strings may hold one and UTF-8 cannot; raw bytes inside a
// string are passed on as they are. Anything else that is not an array of
// strings, one string or JSON whitespace is an error.
//
// # Limits
//
// A Decoder holds a few bytes of state whatever it is fed, and a message
// decodes to no more bytes than it holds, so the bound on what a message
// may carry belongs to whoever consumes the decoded bytes (the broker's
// STOMP decoder).
//
// # Concurrency
//
// AppendText and RuneCut are safe for concurrent use. A Decoder is not: it
// belongs to one connection's reader.
package sockjs
