// Package redisqueue shares the queues of stompd nodes through Redis
// Streams: it is a broker.QueueBackend, so that each message sent to a
// /queue/ destination on any node goes to exactly one consumer on one node.
//
// # Layout in Redis
//
// Queue dest is the stream stompd:q:{dest} (Key), whose one consumer group,
// "stompd", every node reads as the consumer named by its node id. An entry
// holds the message as the broker encoded it (field m). Beside it,
// stompd:q:{dest}:bytes (BytesKey) counts the bytes of the messages the
// stream holds. Every command and script touches only these keys, of one
// hash tag, so the package works on a Redis Cluster as on a single Redis 7.
//
// A message given back keeps its place: its entry stays in the stream and
// pending in the group, moved (XCLAIM) to the consumer "given-back", whose
// pending entries Redis keeps in the order of their ids, the order of the
// SENDs. Whether it was handed to a consumer is its delivery count (more
// than 1), which the broker turns into redelivered:true.
//
//   - SEND: a script checks the queue's length against MaxLength and its
//     byte count plus the message against MaxBytes (refusing with
//     broker.ErrQueueFull beyond either), XADDs and adds to the byte count,
//     atomically: no number of nodes sending at once passes either bound.
//     The broker sends the RECEIPT only after Redis answered.
//   - Reading: while a node has consumers of a queue with credit, a reader
//     takes at most that credit, so that a node never hoards what other
//     nodes' consumers could take: in one script, first the entries given
//     back, oldest first (claimed from "given-back"), then new ones
//     (XREADGROUP). When there are none it blocks in XREADGROUP up to
//     Block; what that brings goes out after whatever was given back
//     meanwhile. A message given back while every reader of its queue is
//     blocked waits for the end of a block: at most Block.
//   - ACK, auto-mode delivery, NACK with requeue:false: XACK and XDEL, in one
//     script, which takes the messages' bytes off the byte count. The
//     stream thus holds what waits, was given back, or is unacknowledged.
//     A stream this leaves empty gets an expiry of EmptyExpiry, as does one
//     a reader creates; a SEND cancels it. A reader whose stream expired
//     creates it again (NOGROUP); one blocked in XREADGROUP when it expired
//     sees what is sent next at the end of its block, within Block.
//   - NACK, UNSUBSCRIBE, disconnect, and what a node read but could no longer
//     place: a script moves each entry still pending for this node to
//     "given-back" (raising its delivery count to 2 when it had been handed
//     to a consumer), for any node, ahead of every message never delivered.
//   - A dead node: every ReclaimInterval, and when a node starts reading a
//     queue, XINFO CONSUMERS lists the group's consumers; the entries of
//     those whose node Options.Alive says is gone and that have been idle
//     in the queue for Options.ReclaimIdle (so that a node that started a
//     moment ago, whose heartbeat others have not seen yet, keeps what it
//     reads) are given back by a script, marked redelivered, before the
//     consumer is deleted (which would drop them). With a heartbeat that
//     declares a node dead after T ≤ ReclaimIdle, its unacknowledged
//     messages are redelivered within ReclaimIdle + ReclaimInterval: 15 s
//     by default, ahead of the messages never delivered.
//   - A read whose reply was lost leaves entries pending for this live node
//     that it never handed to the broker: the same check gives back, as
//     they were, those of its own entries idle for longer than any read
//     takes (2 × (Block + Timeout)) that the broker does not hold.
//
// # Guarantees and failure
//
// Delivery is at least once: a message is removed only by its consumer's
// ACK (or at delivery in auto mode). It may be delivered twice when a node
// was declared dead while it still ran (a heartbeat lost during a Redis
// outage) or when a SEND timed out after Redis stored it (the sender got an
// ERROR, not a RECEIPT). A message given back is redelivered before the
// messages of its queue never delivered, in the order they were sent, as
// far as Redis had the give-back when a reader took: one given back after
// a newer message was read goes out after that one. A node's reader waits
// (at most Timeout) for the give-backs of its queue that this node began
// before it reads, so that a consumer's NACK or disconnect goes ahead of
// what a consumer of the same node reads next.
//
// While Redis is unreachable, SENDs wait in a backlog bounded by MaxBacklog
// bytes and each attempt is bounded by Timeout: a SEND that fails or finds
// the backlog full is not stored and is counted by the broker as dropped
// (not_stored); a SEND or later frame that asked for a RECEIPT gets an
// ERROR (code unavailable) instead, never a RECEIPT. Settlements (ACK, give
// back) are kept and tried again until Redis answers: they concern only
// messages the node read under its consumers' credit, so what waits is
// bounded by that credit, and nothing is lost meanwhile (what is not
// settled stays pending for this node). Readers retry with a growing pause
// (at most 5 s). No goroutine is started per failure.
//
// # Concurrency and ownership
//
// Queues is safe for concurrent use. Run owns every goroutine: one that
// stores SENDs in order (pipelined in batches), one that settles, one that
// reclaims, and one reader per queue this node reads, started by Open and
// ended by Close or the end of Run. Enqueue keeps msg until it is stored;
// Settle keeps refs until they are settled: callers must not change them.
//
// # Limits
//
// A read that waits for messages holds one connection of rueidis's
// blocking pool (ClientOption.BlockingPoolSize) for up to Block. A node
// reads at most Options.Reads queues at once (stompd: 12 of its 32
// blocking connections), and the other readers wait their turn; a read's
// Timeout starts with its turn. With more queues than that, a message
// sent to an empty queue may wait (queues read / Reads) × Block before
// its reader's turn. The streams of queues left empty expire (EmptyExpiry)
// unless a node keeps reading them.
//
// What Redis holds for one queue is bounded by MaxLength messages and
// MaxBytes bytes of messages (stompd's --max-queue-length and
// --max-queue-bytes), checked atomically with each SEND. There is no
// cluster-wide bound on all queues together: a total over a Redis Cluster
// cannot be checked atomically with the XADD of one queue, so stompd's
// --max-queued-bytes keeps bounding what each node holds in its heap (the
// deliveries awaiting ACK), not what Redis holds. The number of queues in
// Redis is bounded by MaxQueues (stompd's --max-destinations), cluster-wide:
// the sorted set stompd:queues holds the queues that exist, and a node
// asks it to admit a queue (one script, in that key's own slot) before its
// first SEND to it, and again every half EmptyExpiry; a queue beyond the
// bound is refused (broker.ErrTooManyQueues). Concurrent first SENDs to new
// queues from several nodes can pass the bound by one each. The same
// script bounds the queues of the set that one user's SENDs made, from any
// node, by MaxQueuesPerUser (stompd's --max-queues-per-user), so that no
// user takes them all: it records who made a new queue (the hash
// {stompd:queues}:makers) and counts it for that user
// ({stompd:queues}:made), both in the set's slot; a queue of a user who
// has made as many is refused (broker.ErrTooManyQueuesPerUser). A SEND of
// no user (an anonymous session) counts for no one. Every ReclaimInterval
// a node looks at up to 100 queues of the set not admitted for
// EmptyExpiry: those whose streams expired leave it, and their makers'
// counts, in one script; the others stay. The counts live in Redis: a
// node that restarts, or joins, finds them as they were.
package redisqueue
