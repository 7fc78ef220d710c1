package broker

import (
	"sync/atomic"
	"testing"
)

// FuzzSession feeds arbitrary bytes to a connected session, as its reader
// would: whatever they hold, the broker must not panic, and ending the
// session must leave no subscription behind.
func FuzzSession(f *testing.F) {
	seeds := []string{
		frame("SUBSCRIBE", "", "id:1", "destination:/queue/f", "ack:client-individual") +
			frame("SEND", "x", "destination:/queue/f", "receipt:r") +
			frame("NACK", "", "id:1.1") + frame("ACK", "", "id:1.2"),
		frame("BEGIN", "", "transaction:t") + frame("SEND", "x", "destination:/topic/f", "transaction:t") +
			frame("ACK", "", "id:9.9", "transaction:t") + frame("COMMIT", "", "transaction:t"),
		frame("SUBSCRIBE", "", "id:u", "destination:/user/queue/f", "prefetch-count:1", "ack:client") +
			frame("SEND", "x", "destination:/user/fuzz/queue/f") + frame("UNSUBSCRIBE", "", "id:u"),
		frame("SEND", "", "destination:/sys/auth/refresh") + frame("DISCONNECT", "", "receipt:d"),
		"SEND\ncontent-length:99999999999999999999\n\n\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	b := anonymousBroker(Options{})
	var frames atomic.Int64
	f.Fuzz(func(t *testing.T, in []byte) {
		c := b.newConn(&tcpTransport{nc: newSinkConn("", &frames)}, transportTCP, "127.0.0.1:3", "")
		c.feed([]byte(frame("CONNECT", "", "accept-version:1.0,1.1,1.2", "login:fuzz")))
		c.feed(in)
		c.closeWith(nil, "fuzz")
		c.endSession()
		<-c.writerDone
		if n := len(b.r.topics) + len(b.r.queues); n > 0 {
			queued := 0
			for _, q := range b.r.queues {
				queued += q.buf.len()
			}
			if len(b.r.topics) > 0 || queued == 0 {
				t.Fatalf("%d destinations left after the session ended", n)
			}
		}
	})
}
