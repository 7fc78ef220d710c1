package stomp

import "bytes"

// Command is a STOMP frame command. The zero value is not a valid command.
type Command uint8

// The commands of STOMP 1.0, 1.1 and 1.2, client and server frames alike.
const (
	CONNECT Command = iota + 1
	STOMP
	CONNECTED
	SEND
	SUBSCRIBE
	UNSUBSCRIBE
	ACK
	NACK
	BEGIN
	COMMIT
	ABORT
	DISCONNECT
	MESSAGE
	RECEIPT
	ERROR

	numCommands = int(ERROR) + 1
)

var commandNames = [numCommands]string{
	CONNECT: "CONNECT", STOMP: "STOMP", CONNECTED: "CONNECTED", SEND: "SEND",
	SUBSCRIBE: "SUBSCRIBE", UNSUBSCRIBE: "UNSUBSCRIBE", ACK: "ACK", NACK: "NACK",
	BEGIN: "BEGIN", COMMIT: "COMMIT", ABORT: "ABORT", DISCONNECT: "DISCONNECT",
	MESSAGE: "MESSAGE", RECEIPT: "RECEIPT", ERROR: "ERROR",
}

// String returns the command as it appears on the wire.
func (c Command) String() string {
	if int(c) < numCommands && c != 0 {
		return commandNames[c]
	}
	return "UNKNOWN"
}

// Commands returns every valid command, in declaration order. It is meant for
// resolving per-command state (such as metric children) once, up front.
func Commands() []Command {
	cs := make([]Command, 0, numCommands-1)
	for c := CONNECT; c <= ERROR; c++ {
		cs = append(cs, c)
	}
	return cs
}

// Version is a STOMP protocol version.
type Version uint8

// The protocol versions a peer may negotiate.
const (
	V10 Version = iota + 1
	V11
	V12
)

// String returns the version as it appears in accept-version headers.
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "unknown"
}

// Header is one header line, unescaped. Key and Value alias the storage of
// the Frame they belong to.
type Header struct {
	Key, Value []byte
}

// Frame is one STOMP frame. A Frame returned by a Decoder aliases the
// decoder's storage and is valid only until the next call to Decode; call
// Clone to keep it.
type Frame struct {
	Command Command
	// Headers in wire order. A repeated key keeps every occurrence; the
	// first one is the one that counts (STOMP 1.2 section "Repeated Header Entries").
	Headers []Header
	Body    []byte
}

// Get returns the value of the first header named key.
func (f *Frame) Get(key string) (value []byte, ok bool) {
	for i := range f.Headers {
		if string(f.Headers[i].Key) == key {
			return f.Headers[i].Value, true
		}
	}
	return nil, false
}

// Value returns the first header named key as a string, or "" when absent.
// It allocates; hot paths use Get.
func (f *Frame) Value(key string) string {
	v, _ := f.Get(key)
	return string(v)
}

// Has reports whether f has a header named key.
func (f *Frame) Has(key string) bool {
	_, ok := f.Get(key)
	return ok
}

// Add appends a header. It does not copy key or value.
func (f *Frame) Add(key, value string) {
	f.Headers = append(f.Headers, Header{Key: []byte(key), Value: []byte(value)})
}

// Clone returns a deep copy of f that owns all of its storage, in a single
// allocation for the bytes plus one for the header slice.
func (f *Frame) Clone() *Frame {
	n := len(f.Body)
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value)
	}
	buf := make([]byte, 0, n)
	c := &Frame{Command: f.Command, Headers: make([]Header, len(f.Headers))}
	for i, h := range f.Headers {
		buf = append(buf, h.Key...)
		k := buf[len(buf)-len(h.Key):]
		buf = append(buf, h.Value...)
		c.Headers[i] = Header{Key: k, Value: buf[len(buf)-len(h.Value):]}
	}
	buf = append(buf, f.Body...)
	c.Body = buf[len(buf)-len(f.Body):]
	return c
}

// Equal reports whether two frames have the same command, headers (in
// order) and body.
func (f *Frame) Equal(g *Frame) bool {
	if f.Command != g.Command || len(f.Headers) != len(g.Headers) || !bytes.Equal(f.Body, g.Body) {
		return false
	}
	for i := range f.Headers {
		if !bytes.Equal(f.Headers[i].Key, g.Headers[i].Key) || !bytes.Equal(f.Headers[i].Value, g.Headers[i].Value) {
			return false
		}
	}
	return true
}

// ParseCommand returns the command whose wire form is b, or 0 if b is not
// a STOMP command. Commands are case-sensitive.
func ParseCommand(b []byte) Command {
	switch string(b) {
	case "SEND":
		return SEND
	case "MESSAGE":
		return MESSAGE
	case "ACK":
		return ACK
	case "NACK":
		return NACK
	case "SUBSCRIBE":
		return SUBSCRIBE
	case "UNSUBSCRIBE":
		return UNSUBSCRIBE
	case "CONNECT":
		return CONNECT
	case "STOMP":
		return STOMP
	case "CONNECTED":
		return CONNECTED
	case "BEGIN":
		return BEGIN
	case "COMMIT":
		return COMMIT
	case "ABORT":
		return ABORT
	case "DISCONNECT":
		return DISCONNECT
	case "RECEIPT":
		return RECEIPT
	case "ERROR":
		return ERROR
	}
	return 0
}
