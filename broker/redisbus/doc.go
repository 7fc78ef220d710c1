// Package redisbus connects the brokers of a stompd cluster through Redis:
// Bus is a broker.Bus on sharded pub/sub (SPUBLISH, SSUBSCRIBE), which a
// single Redis 7 serves as a Redis Cluster does, and Members is the
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
// batch the writer waits 100 ms, doubling up to 1 s, before the next.
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
// a slot migrated), is opened again with the same backoff and subscribes
// again to every destination the broker listens to, so that cross-node
// delivery resumes by itself. What other nodes publish meanwhile is lost:
// pub/sub keeps nothing for a node that is not listening.
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
// Publish, Listen, Unlisten, Alive and Live are safe for concurrent use and
// never block on Redis. Bus.Run runs the writer and one goroutine per
// partition, hands every message of another node to the broker from the
// goroutine that reads its partition's connection (one after the other, so
// in order), and returns once they have all stopped. Members.Run runs the
// heartbeats in the caller's goroutine. While Redis is down, neither grows:
// the writer drops, the partitions retry, and nothing else is started.
//
// # Ownership
//
// The caller owns the rueidis.Client and closes it after Run has returned.
// Publish takes over the message it is handed, as broker.Bus says.
package redisbus
