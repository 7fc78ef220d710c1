// Package redispresence shares the members of topics among the nodes of a
// stompd cluster through Redis: Presence is a broker.Presence, which makes
// /presence/topic/<name> show every user subscribed to /topic/<name> on
// any node, each once.
//
// # Redis
//
// A topic's keys share the hash tag of its partition (one of 16, a hash
// of the name that every node computes alike), so that one Lua script
// changes them in one step on a single Redis 7 as on a Redis Cluster:
// "stompd:p:{<partition>}<topic>" followed by :m (the members, subject to
// name), :r (per subject, how many nodes have it subscribed), :n (the
// nodes with subscribers, with the Redis time of their last join), :v (the
// topic's epoch and version) and :c:<node> (the subjects subscribed on
// that node). A node writes only its own set: whether each subject has a
// subscription there, not how many, so that a write is absolute and may
// be repeated. A subject joins the members when its first node has it and
// leaves when its last one no longer does; each join and leave adds one to
// the version and is published, with the epoch and version, on the
// partition's sharded channel "stompd:p:{<partition>}" (SPUBLISH, in the
// script). Empty hashes and sets vanish by themselves; the version expires
// a day after the topic's last change, and starts again in a new epoch.
//
// # Events without gap
//
// Each node follows the 16 channels (SSUBSCRIBE, through the client's
// Receive) whatever it watches. A topic the broker watches is read (its
// members with their epoch and version, in one script) once its
// partition's subscription is confirmed, so that every later event
// reaches the node; events up to the version read are skipped, the next
// ones shown one by one. An event beyond the next version, or of another
// epoch, is a gap: the topic is read afresh and the difference shown.
// Every watched topic is also read afresh every Options.Sweep (5 s),
// which heals what a lost subscription could have missed. Events and
// reads of one partition are shown to the broker in order, under one lock
// per partition.
//
// # Dead nodes
//
// When a read lists a node with subscribers that Options.Alive (the
// cluster's membership) calls dead and that joined nothing for
// Options.Grace (10 s: a node that has just started may not be known
// alive yet), a script takes its subjects out and publishes their leaves,
// and the topic is read again. With membership's 10 s timeout and a 5 s
// sweep, a dead node's members leave the topics someone watches within
// about 17 s; on a topic nobody watches they stay in Redis until a node
// watches it, which reads and evicts before it shows anything. A node
// that stops gracefully writes its subscribers' leaves as it stops.
//
// # Redis unreachable
//
// Broker calls never wait for Redis: Set records the node's subscription
// and wakes the keeper goroutine, which writes what is pending in
// pipelined batches; a write that fails stays pending and is tried again
// every second. While a partition's subscription is lost, its watched
// topics show this node's own subscribers only (the members of other
// nodes leave); once it is back, the node writes all its subscriptions
// of that partition again (Redis may have lost them) and reads its
// watched topics afresh, showing the difference. Each subscription lost,
// and each gap, is counted in stompd_presence_resyncs_total; the writes
// and reads that fail, in stompd_redis_commands_total.
//
// # Concurrency and goroutines
//
// Set, Watch and Unwatch are safe for concurrent use and never block on
// Redis nor call the broker. Run follows each partition's channel in a
// goroutine of its own, which shows the events it receives to the Target,
// and keeps the rest (writes, reads, dead nodes) in the caller's; it
// returns once they have all stopped. The caller owns the rueidis.Client
// and closes it after Run has returned. What this package holds is
// bounded by the broker's subscriptions: one entry per topic and subject
// subscribed on this node, and one per topic watched.
package redispresence
