package broker

import (
	"errors"
	"time"

	"github.com/stompd/stompd/stomp"
)

// A message travels between nodes as a STOMP 1.2 SEND frame: its
// destination, content-length, the sender's headers passed on and its body,
// encoded and decoded by the stomp codec like any client frame. The
// receiving node gives it its own message-id.

// wire returns m encoded for another node.
func (m *message) wire() []byte {
	return m.appendFrame(make([]byte, 0, len("SEND\n")+m.frameSize()), stomp.SEND)
}

// wireLimits accept whatever a node of the cluster encoded: each bounded
// it by its own limits when its client sent it.
var wireLimits = stomp.Limits{MaxBodySize: -1, MaxHeaders: -1, MaxHeaderLine: -1}

// errMalformed says that bytes from another node are not a message.
var errMalformed = errors.New("not a message encoded by a stompd node")

// unwire decodes b, made by wire, into a message of kind with id. It may
// overwrite b.
func unwire(b []byte, kind destKind, id uint64, now time.Time) (*message, error) {
	n, f, err := stomp.NewDecoder(wireLimits).Decode(b)
	if err != nil {
		return nil, err
	}
	if f == nil || n != len(b) || f.Command != stomp.SEND {
		return nil, errMalformed
	}
	dest, ok := f.Get("destination")
	if !ok {
		return nil, errMalformed
	}
	return newMessage(f, string(dest), kind, id, now), nil
}
