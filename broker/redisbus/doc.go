// Package redisbus connects the brokers of a stompd cluster through Redis:
// Bus is a broker.Bus on sharded pub/sub (SPUBLISH, SSUBSCRIBE), which a
// single Redis 7 serves as a Redis Cluster does, and the broker.Streams
// that keeps the topics' history in Redis streams; Members is the
// cluster's membership.
//
// # Topics
//
// A destination's messages travel on the channel
// "stompd:t:{<partition>}<destination>", one SPUBLISH per message whatever
// the number of nodes that listen. The destinations fall into 16
// partitions (a hash of the name, the same on every node), each with its
// own hash tag and so its own slot: a node subscribes through one dedicated
// connection per partition, on the Redis Cluster node that serves its
// slot, SSUBSCRIBing a destination's channel while the broker listens to it
// and SUNSUBSCRIBing it after. Each message is the node's id, a newline,
// and the broker's bytes; a node skips its own.
//
// Publish never waits for Redis: it queues the message in a backlog
// bounded by Options.MaxBacklog bytes, and one writer publishes the
// backlog in pipelined batches of up to 512 commands, each batch after the
// previous one's replies. So one publisher's messages to one destination
// reach Redis, and every node, in order. A message that does not fit in
// the backlog is dropped (messages_dropped_total, reason cluster_backlog),
// and so is one whose SPUBLISH fails (cluster_unavailable); after a failed
// batch the writer sends the next once Redis answers a PING again, which
// it asks every 50 ms.
//
// Listen's channel is closed once Redis replied to the destination's
// SSUBSCRIBE: Redis subscribes before it replies, so any SPUBLISH it runs
// after that, from any node, reaches this one, and the broker answers the
// SUBSCRIBE then. A destination subscribed already (another Listen before)
// is confirmed once the partition's loop finds it so, with no SUNSUBSCRIBE
// of it under way. While a partition has no connection (Redis down, or
// being reconnected) its Listens do not wait, and a lost connection
// releases the Listens waiting on it: nobody waits for a Redis known to be
// down. The broker asks only when a destination gets its first local
// subscriber: those who join it later, while the partition subscribes
// again after an outage, are answered before that is done.
//
// Each partition's connection, once lost (Redis restarted or unreachable,
// a slot migrated), is opened again with the same backoff, cut short when
// the writer finds Redis back, and subscribes again to every destination
// the broker listens to, so that cross-node delivery resumes by itself.
// What other nodes publish meanwhile is lost: pub/sub keeps nothing for a
// node that is not listening. Topic history is not: a new connection holds
// the numbered messages it receives until it has read, for each topic it
// subscribes to, the stream after the latest offset received (for a topic
// that received none yet, what was kept after the connection before was
// lost, by the partition's clock: cut.go), and handed those entries to the
// broker in offset order; the messages held follow, less those the read
// covered. Those held are bounded by Options.MaxHeld: past it they are let
// go and read again from the streams (catchup.go). A catch-up that fails
// lets them go too, and the next connection catches up again.
//
// # Topic history
//
// As the broker's Streams (with Options.HistorySize, the broker's own), the
// Bus numbers topic messages and keeps them. Append queues a message in the
// same backlog as Publish, and the writer runs one script per message, one
// command, in the topic's slot: it takes the next offset from the topic's
// counter "stompd:hc:{<partition>}<destination>" (a hash of the epoch and
// the latest offset), adds the message as entry "<offset>-<clock>" (the
// partition's clock, cut.go) of the stream
// "stompd:h:{<partition>}<destination>", with Redis's time, trimmed to
// about HistorySize entries (MAXLEN ~), and SPUBLISHes it, numbered, on
// the topic's channel. Every node listening there, the sender included,
// hands it to the broker's DeliverAt, in offset order: the script runs
// atomically, and a partition's connection receives in the order Redis
// published. The stream expires HistoryTTL after the topic's last message,
// the counter a day after it (or HistoryTTL, if longer), so that a topic
// idle for a while keeps its epoch and offsets while its entries are gone.
// Read is one script on the same keys: the epoch, the latest
// offset, the oldest kept and the entries after an offset, at most the
// HistorySize latest; entries older than HistoryTTL are the broker's to
// leave out.
//
// A topic without a counter gets a new epoch (64 random bits, drawn by the
// node for each script run), and its stream is emptied: so
// offsets never repeat within an epoch, and when Redis loses its data
// (restarted without persistence, flushed) the next message starts a new
// epoch, from which resuming clients learn that the history was lost. When
// Redis loses only its latest writes (an asynchronous replica promoted, an
// AOF missing its last second) the counter goes back with its stream, and
// the next offsets would repeat with other messages: a node that receives
// an offset at or below one it received in the same epoch fences the topic
// with a new epoch, continuing above the offsets it received (fence.go).
//
// An Append's broker.Appended learns that the message was kept once its
// script replied, and the broker's RECEIPT waits for that. An Append whose
// script fails (Redis unreachable) is handed to the broker's Deliver
// instead, so that the node's own subscribers still get it, without an
// offset, and waits in the writer's outbox, bounded by Options.MaxOutbox
// bytes, until Redis answers again: it is then kept, before any newer
// message, and reaches every node, and its Appended learns it then. Past
// the bound the oldest are dropped (cluster_outbox) and their Appended
// learn that they never will be kept; a node killed loses its outbox,
// whose messages were never answered as kept (outbox.go). One that does
// not fit in the backlog is dropped (cluster_backlog). A script whose
// reply was lost may have run, and a script that ran may not have reached
// this node, Redis killed in between: each Append carries a number of its
// node's, its source, kept and published with it, so that this node
// passes over a numbered message it delivered so already, and delivers
// so, at a failure, those of the batch and of the one before that it did
// not receive numbered yet (sources.go); the script passes over a message
// whose source it kept already. Once a batch has failed, Redis is known to
// be down: at each PING that fails, the Appends queued before it go to
// Deliver and to the outbox, so that the node's subscribers wait at most a
// probe; those queued before the PING that succeeds are numbered and kept,
// behind the outbox, and so reach every node, since Redis is back. A
// topic's messages keep their order.
//
// # Membership
//
// Members heartbeats the node's id every Interval (2 s) into the sorted set
// stompd:nodes, scored with Redis's own clock, with a Lua script that also
// forgets nodes silent for longer than Timeout (10 s) and returns the
// others. Alive and Live answer from the last reply, without a round trip.
// A node that stops gracefully (Run's context done) removes itself from
// stompd:nodes, so that the others count it gone at their next heartbeat
// rather than after the timeout; a node that crashes is forgotten after it.
//
// # Concurrency and goroutines
//
// Publish, Append, Listen, Unlisten, Alive and Live are safe for
// concurrent use and never block on Redis; Read waits for one round trip,
// bounded by its context. Bus.Run runs the writer and one goroutine per
// partition, hands every message of another node, and every numbered
// message, to the broker from the goroutine that reads its partition's
// connection (one after the other, so in order), and returns once they have
// all stopped. Members.Run runs the
// heartbeats in the caller's goroutine. While Redis is down, neither grows
// beyond its bounds: the writer drops or holds in the outbox, the
// partitions retry, and nothing else is started.
//
// # Ownership
//
// The caller owns the rueidis.Client and closes it after Run has returned.
// Publish and Append take over the message they are handed, as broker.Bus
// and broker.Streams say; Read's entries are the caller's.
package redisbus
