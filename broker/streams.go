package broker

import (
	"context"
	"time"
)

// Streams numbers topic messages and keeps their history for the nodes of a cluster
// (Options.Streams; nil on one node, where the broker keeps history in memory). With it, a
// topic message is not fanned out by the node that accepted it: the broker hands it to Append,
// and the streams deliver it to every node listening on its destination (Bus.Listen), this one
// included, through Broker.DeliverAt, in offset order per destination. Methods are safe for
// concurrent use; Append does not block (a message it cannot append is dropped and counted).
type Streams interface {
	// Append hands msg, a message to the topic dest, to the streams, and tells done once
	// they kept it (numbered and stored), or that they never will: a RECEIPT of the SEND, and
	// of every later frame of its connection, waits for that (see stores).
	Append(dest string, msg []byte, done Appended)
	// Read returns what dest's history holds now with offsets above after (all of it for 0),
	// oldest first. It blocks, bounded by ctx; the broker calls it in the subscriber's reader
	// goroutine after the Bus listens on dest, never under a lock. The broker passes
	// math.MaxUint64 as after when it needs only Epoch, First and Last (no entries).
	Read(ctx context.Context, dest string, after uint64) (StreamRead, error)
}

// Appended learns what became of a message handed to Streams.Append. Appended is called
// once per message, from any goroutine: err is nil once the streams kept the message, and
// otherwise says why they never will.
type Appended interface {
	Appended(dest string, err error)
}

// StreamRead is what Streams.Read found in a destination's history.
type StreamRead struct {
	Epoch   string        // "" when dest has no history
	First   uint64        // the oldest offset kept, 0 when none is
	Last    uint64        // the latest offset given, 0 when none was
	Entries []StreamEntry // offsets above after, oldest first
}

// StreamEntry is one message of a history.
type StreamEntry struct {
	Offset uint64
	At     time.Time // when it was appended
	Msg    []byte    // as Append was given it
}

// DeliverAt is Deliver for a numbered message: msg, the bytes a broker handed to Append, fanned
// out to this node's subscribers of its destination with that epoch and offset.
func (b *Broker) DeliverAt(msg []byte, epoch string, offset uint64, at time.Time) error {
	m, err := b.decodeNumbered(msg, epoch, offset, at)
	if err != nil {
		return err
	}
	if !b.r.fanOut(m) {
		b.m.dropNoSubscriber.Inc()
	}
	return nil
}

// decodeNumbered rebuilds a topic message from its form between nodes
// and gives it its place in the destination's history. It counts and
// returns ErrNotMessage for anything else.
func (b *Broker) decodeNumbered(msg []byte, epoch string, offset uint64, at time.Time) (*message, error) {
	m, err := b.decodeWire(msg, true)
	if err == nil && m.kind != kindTopic {
		err = ErrNotMessage
	}
	if err != nil {
		b.m.dropMalformed.Inc()
		return nil, err
	}
	m.number(epoch, offset, at)
	return m, nil
}
