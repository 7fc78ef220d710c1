// Command stompbench is a load generator for STOMP servers: stompd,
// RabbitMQ's STOMP plugin, ActiveMQ or any other, over TCP or WebSocket.
// It sizes a deployment and compares brokers by running one traffic
// pattern (-scenario) and reporting the delivered and published message
// rates, latency quantiles from a log-linear histogram, and whether every
// message arrived exactly once and intact. A run that lost, duplicated,
// corrupted or misrouted a message is reported INVALID and exits 1.
//
// Scenarios: p2p (one publisher, one subscriber, one topic), fanout (one
// publisher, -subs subscribers of one topic), mesh (N publishers each on
// its own topic, N subscribers of every topic), queue (-pubs producers,
// -subs competing consumers of one queue, client-individual acks, checked
// exactly-once across consumers; -persistent sends persistent:true), conns (-conns idle connections with one
// subscription each, held for -duration, then one message to each; with
// -pid the broker's RSS per connection), sendauth (p2p with an
// Authorization header on every SEND), and soak (-conns subscribers of
// -conns/-fanout topics and -queues queues at a steady -rate in all, for
// -duration, with -churn connections a second closed and resumed from the
// topics' history, the token refreshed in band before it expires, and
// every connection that fails reconnecting to the next node; see
// soak.go).
//
// With -stall F at a set -rate, fanout measures slow-consumer isolation:
// halfway through (or in each of -stall-cycles baseline/stall pairs, with
// fresh subscribers each time) a fraction F of the subscribers stops
// reading, and the report compares the others' p50/p99/p99.9 before and
// during the stall, and says how many stalled ones the broker cut and when
// (stall.go). A stalled subscriber owes only what was sent before it
// stopped, and its end is expected.
//
// The soak's sampler (soaksample.go) reads the soak's traffic every
// -sample-every, and the broker's RSS (-pid) and Prometheus metrics
// (-metrics-url), prints a row each time and a p99 each minute, and fails
// the run on loss, duplicates, corruption, or RSS or goroutines growing
// past -max-rss-drift or -max-goroutine-drift between -settle and the end.
//
// -tcp and -ws take one node or several nodes of a cluster, comma-separated:
// with n nodes, publisher i connects to node i mod n and subscriber i to
// node (i+1) mod n, so one publisher and one subscriber sit on different
// nodes and many subscribers split evenly.
//
// -nats nats://host:port runs p2p, fanout and mesh against a core NATS
// server instead, to set stompd beside it: topics become subjects
// bench.<run>.<n>, with no acks and no queues, and the bodies, ledgers,
// pacing and latency histogram are the same. stompbench speaks NATS's
// text protocol itself (see nats.go) through the same reader and batched
// writer as STOMP, so that both brokers are measured by the same client.
//
// # Verification
//
// Every body carries its stream id, sequence number, send time and a
// CRC-32C, as fixed-width hex text (see body.go). Each receiving party
// keeps a ledger per stream: the lowest sequence number still missing and
// a bitmap of those received above it, which yields lost, duplicated and
// corrupt counts whatever the arrival order. The consumers of a queue
// share one ledger. Latency is the arrival time (when the read that
// brought the message returned) minus the send time, on the monotonic
// clock the process shares; at a set -rate the send time is
// when the message was due, so a publisher that falls behind shows it as
// latency (coordinated omission is not hidden). So that a publisher that
// keeps up sends each message at its time rather than in bursts, it sleeps
// on the runtime's timers until a millisecond before, then on a kernel
// timer the network poller watches (timerfd, on Linux), which wakes it
// within microseconds even when the process is otherwise idle.
//
// # The soak
//
// The soak checks more than arrival. Each subscriber connection is a party
// of its own across its reconnections, holding per stream the next number
// due and at most 256 holes (seqTrack), so that its memory does not grow
// with the run. A reconnection resumes its topic with x-stream-offset and
// x-stream-epoch; when the RECEIPT says x-recovered:false, nothing is
// replayed (SPEC §7): what it missed of the messages sent before that
// RECEIPT is lost unless it still comes, and counted apart as unrecovered
// (with -waive-unrecovered, not as lost), while every message sent after
// it is due. Publishers number their SENDs across their
// connections and ask a RECEIPT for the last of a batch at most every 10
// ms; it confirms every SEND before it (confirmLog). When a connection
// drops, its SENDs not yet confirmed are unconfirmed: one that no party
// got is excused, one that any party got is due to all. A delivery still
// missing of a message confirmed more than -overdue ago is overdue; of a
// queue message, more than -queue-overdue ago (by default 30 s more: a
// cluster redelivers what a dead node's consumers held within 30 s).
// Queue consumers ask a RECEIPT for one ACK at a time, which confirms
// every ACK before it; a message whose ACK no RECEIPT confirmed may come
// again marked redelivered (its consumer or node went away), counted
// apart, while any other second delivery is a duplicate.
//
// # Flow control
//
// A publisher keeps at most -window messages per stream that some receiver
// has not yet got, so that a flat-out run measures what the broker
// sustains instead of filling its buffers until it cuts slow consumers.
//
// # Concurrency and buffers
//
// Each connection has one reader goroutine, which owns the stomp.Decoder,
// feeds it from a 256 KiB read (2 KiB for the idle connections of conns),
// records each MESSAGE in its ledger under the ledger's mutex and writes
// the acknowledgements, flushed once everything read so far is handled.
// A publisher goroutine writes a batch of SEND frames (at most 256 or
// 64 KiB) into the connection's buffered writer and flushes once per
// batch; the writer is shared with the reader's acknowledgements under a
// mutex. Frames the decoder returns are used before the next Decode and
// never kept. Publishers stamp a reused body in place, so the hot paths
// allocate nothing per message beyond what the WebSocket library does.
//
// Past 28,000 connections to an IPv4 loopback address, connections are
// spread over source addresses 127.0.0.2, 127.0.0.3 and on, and the open
// files limit is raised up to the hard limit. Reading RSS needs Linux.
package main
