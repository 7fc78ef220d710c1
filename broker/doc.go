// Package broker is the STOMP broker of stompd: sessions, routing, acks,
// receipts, transactions, heart-beats and slow-consumer protection, over raw
// TCP (Serve), WebSocket (ServeHTTP) and SockJS's WebSocket transport
// (SockJS), which all feed the same session code.
//
// # Lifecycle
//
// A Broker behaves like an http.Server: Serve(l) accepts until Shutdown and
// then returns ErrServerClosed; ServeHTTP upgrades a WebSocket request,
// starts serving it and returns; Shutdown stops accepting, queues an
// ERROR (code server-shutdown) behind whatever each session already has
// queued (pending receipts included), closes every connection and waits for
// all of their goroutines, bounded by its context. CloseSessions ends the
// sessions of matching identities the same way (logout, revocation),
// including one whose CONNECT was being authenticated meanwhile, once it is
// established. Sessions lists the established sessions, as plain values
// copied from a snapshot of the connection registry, for operators.
//
// A connection is CONNECT-ed within Options.ConnectTimeout or closed; until
// then only CONNECT or STOMP is accepted and a frame may not exceed
// Options.MaxFrameSize. A session ends at its identity's Expires
// (ERROR token-expired) unless a hook returns a fresher identity, which
// moves the deadline.
//
// # Hooks
//
// The broker parses STOMP; its hooks see plain values. The Authorizer is
// handed a resolved Request for CONNECT, every SEND and SUBSCRIBE, and any
// other frame that carries a credential (an Authorization header, or a
// CONNECT's passcode): the Action, the destination after the /user/
// mapping and whose it is, and the credential as the client wrote it. A
// SEND to RefreshDestination goes to the Refresher instead, and does only
// that. An Authorizer that is also an AuthEpocher is not asked again about
// a SEND it allowed, without a credential, while the session keeps its
// identity and the Authorizer its epoch. Refusals are *Error values, which carry the ERROR code. Without an
// Authorizer, New refuses to build a broker (ErrNoAuthorizer) unless
// Options.AllowAnonymous opens it to everyone.
// After any ERROR the connection closes, and nothing the client sent after
// the offending frame takes effect. A session ends by shutting the write
// side once its last frame (RECEIPT, ERROR) is written (over WebSocket, a
// close message); the socket then lingers up to a second for the client's
// own end, discarding what it still sends, so that the client is not reset
// before it reads that last frame.
//
// # Concurrency
//
// Each connection has a reader goroutine (started by Serve or ServeHTTP
// once the connection is accepted or upgraded), which owns the decoder and
// the session state: subscriptions, transactions, the negotiated version.
// The writer owns the write side of the socket. It runs only while there is
// something to write: pushing into an empty outbox starts a run, which
// drains the outbox in batches, flushing once per batch (over TCP, one
// writev per 32 KiB of frames, large bodies passed by reference; over
// WebSocket, the batch's messages are gathered under gorilla and written
// 32 KiB at a time), and ends when the outbox is empty; the outbox lets
// one run exist at a time. An idle connection thus holds one goroutine, and
// no write buffer. Runs take their goroutine from a pool of the broker's,
// whose goroutines wait 100 ms for the next run before they end: a new
// goroutine would grow its stack for every run. A timer per connection
// enforces the CONNECT timeout, the token deadline and the client's
// heart-beat, and asks for a server heart-beat when nothing was written
// for a while. There is no central event loop: a SEND is routed in the
// sender's reader goroutine, straight into the subscribers' outboxes,
// which never block (a bounded append under a mutex, then starting a
// writer run if none exists).
//
// A fanned-out message is built once: its body and common headers are
// shared by every delivery, which adds only its subscription, ack and
// redelivered lines when the writer encodes it (the message-id, the same
// for every subscriber, is among the common headers).
//
// Shared state is behind mutexes, never held across a channel operation, a
// hook call or I/O. The lock order is
//
//	router.mu → queue.mu → subscription.mu → outbox.mu
//	presence.mu → outbox.mu
//
// Broker.mu (the connection registry), conn.idMu (the identity) and
// conn.timerMu (the timer) are leaves, never held with another lock; so is
// queue.wantMu, held only across a QueueReader's Want, which does not
// block, so that the latest credit of a shared queue is the one its reader
// keeps. The writer takes subscription.mu
// to claim a delivery and releases it before any queue.mu. A COMMIT holds
// the queue.mu of the queues its SENDs go to, taken in the order of their
// names, then the subscription.mu of several of its connection's
// subscriptions, taken in the order of their serials, to check that its
// messages fit and to settle its ACKs and NACKs, all or none; nothing else
// holds two of either. A topic's subscriber list is
// changed under the topic's own mu (taken alone, or under router.mu when an
// empty topic is removed) in O(1) amortised, and read by publishers
// without a lock, except in a topic with history, whose publishers fan out
// under its mu (topic.mu → subscription.mu → outbox.mu), waking writers
// once they released it.
//
// # Destinations and delivery
//
// /topic/<name> fans out to every subscriber; /queue/<name> gives each
// message to one consumer, round robin among consumers with credit, and
// buffers up to MaxQueueLength messages while none can take it (beyond that
// new messages are dropped and counted); /user/<subject>/<dest> reaches
// every session of that subject subscribed to /user/<dest>. Message ids
// come from one broker-wide counter, so they increase within each
// destination; ids of all kinds hold neither ':' nor '\'. A destination
// exists while it has subscribers or, for a queue, buffered messages (for
// a topic with history, kept messages), and at most MaxDestinations exist
// at once. A SEND or SUBSCRIBE that needs one more then evicts the least
// recently active (published to, or left by its last subscriber) of the
// topics without subscribers that stay only for their history, letting
// that history go, counted in destinations_evicted_total; when there is
// none (every destination has subscribers, or is a queue), it fails with
// limit-exceeded. So a client that SENDs once to each of MaxDestinations
// new topics does not shut everyone out for HistoryTTL. Queues, whose
// messages wait for a consumer, are not evicted; instead the queues a
// user's SENDs and SUBSCRIBEs made are bounded by MaxQueuesPerUser, so
// that no user alone fills MaxDestinations with them (with a QueueBackend,
// the queues a user's SENDs make in it are the backend's to bound, across
// nodes: see ErrTooManyQueuesPerUser).
//
// A SUBSCRIBE's RECEIPT comes before the messages a queue has waiting for
// the new consumer: the consumer is registered first, refusing deliveries
// (which stay in the queue or go to other consumers), and starts taking
// them once the RECEIPT is queued, so that clients that read the RECEIPT
// before anything else (ruby-stomp, Net::Stomp) lose nothing.
//
// Acks: auto, client (cumulative) and client-individual. A queue consumer's
// unsettled deliveries (unacknowledged, or in auto mode not yet handed to
// the socket) are bounded by its prefetch-count (MaxUnacked by default):
// queue delivery waits for credit and a queue message is never dropped for
// a slow consumer; NACK, UNSUBSCRIBE and disconnect put its unsettled
// messages back with redelivered:true, except that a NACK with
// requeue:false (RabbitMQ's extension, for poison messages) drops the
// messages it covers, counted as dropped, nack_discarded. The writer claims each tracked
// delivery just before writing it, so a message put back is never also
// written; an auto-mode message counts as delivered once claimed (at most
// once, as RabbitMQ's auto ack). A topic subscriber in a client mode with
// prefetch-count messages unacknowledged misses further messages (counted
// as dropped, slow_consumer); a NACKed topic message is dropped.
//
// Slow consumers: each connection's outbox holds at most MaxPendingBytes
// (queued plus being written). Queue deliveries are flow-controlled within
// three quarters of that bound: a consumer without room gets nothing more
// (the others do) until its writer makes room, and is never cut. Anything else that would exceed
// it (a topic message, a RECEIPT) cuts the connection: its outbox is
// dropped, an ERROR (code slow-consumer) is written on a best-effort basis,
// and it is closed; publishers and other subscribers are not slowed.
//
// # Topic history
//
// With Options.HistorySize, each /topic/ destination (not /user/, not
// /queue/) keeps its latest messages, at most HistorySize and
// MaxHistoryBytes of them, none older than HistoryTTL, and numbers them:
// every MESSAGE carries x-stream-offset (1, 2, 3, ... per destination) and
// x-stream-epoch (random per history, new whenever a history was lost);
// a SEND's own x-stream-* headers are never passed on. A SUBSCRIBE may
// carry x-stream-offset (first, last, next (the default), offset=<n>,
// timestamp=<unix seconds>) and x-stream-epoch: the messages asked for are
// replayed, then the live ones follow, with no gap and no duplicate; all
// or nothing: when the epoch differs, or a message asked for is no longer
// kept, nothing is replayed. Its RECEIPT carries x-recovered,
// x-stream-epoch and x-stream-offset (the latest offset given, 0 for
// none), and precedes every MESSAGE of the subscription. Without history
// such a RECEIPT says x-recovered:false, except for next.
//
// On one node, a topic's publishers keep the message and fan it out in
// one step under the topic's mu, and a new subscriber joins in one step
// under it (RECEIPT, replay, then live). It is in the topic's list from
// its SUBSCRIBE on, holding what is fanned out to it until it joins (up to
// MaxPendingBytes, beyond which it is cut as a slow consumer once it
// joins), and passes over any message at or below the last offset it was
// handed, in the same epoch (a message of another epoch starts afresh). A
// topic with history exists while it has subscribers or keeps a message;
// one timer per broker removes the idle ones, and a full MaxDestinations
// evicts them as above. A topic evicted and made again has a new epoch,
// so that a resume from the old one is not recovered. Histories, after
// Shutdown, returns them all, and Options.Histories restores them (same
// epochs, offsets continuing). A replay counts against the subscriber's
// outbox like any delivery (MaxHistoryBytes' default is half of
// MaxPendingBytes' so that a full history fits) and, in a client ack
// mode, against its prefetch-count like live messages.
//
// With Options.Streams (cluster mode), a topic message goes to the
// streams rather than to this node's subscribers and the Bus; the streams
// number it and hand it to every node's DeliverAt, this one included. A
// new subscriber holds live messages as above while it reads the history
// with Streams.Read, in its reader under no lock, then joins under the
// topic's mu: what it held that the replay covered is passed over. Streams
// that cannot number a message (Redis unreachable) may hand it to Deliver
// instead: without an offset, it goes to the live subscribers of this
// node only, and is kept nowhere.
//
// # Presence
//
// The users subscribed to /topic/<name> on this node are its members, each
// once however many subscriptions and sessions it has, shown by its
// Identity.Name (its subject when that is empty). A SUBSCRIBE to
// /presence/topic/<name> is authorised as a SUBSCRIBE to /topic/<name>;
// its RECEIPT comes first, then one MESSAGE listing the members,
// {"members":[{"sub":..,"name":..}]}, then one MESSAGE per change,
// {"event":"join"|"leave","sub":..,"name":..}, all in application/json.
// A user joins with its first subscription to the topic and leaves with
// its last (UNSUBSCRIBE, DISCONNECT, a lost or cut connection). The
// members, what each presence subscriber was shown, and who was shown it
// change under one lock, presence.mu, which queues each change in the
// subscribers' outboxes (the topics' slow-consumer rule then applies) in
// the step that makes it: the snapshot and the changes after it have no
// gap and no duplicate. Members are bounded by subscriptions, and a
// topic's presence exists only while it has subscribers or presence
// subscribers. A SEND to a /presence/ destination is refused (forbidden),
// and presence MESSAGEs take no ACK whatever the ack header says.
//
// With Options.Presence, the members are the cluster's: the broker tells
// the Presence how many subscriptions each user has to each topic on this
// node, and shows its presence subscribers what the Presence says of the
// topics they watch (SetMembers, MemberChanged), applying the same rules
// to what it shows. A presence SUBSCRIBE to a topic not watched yet waits
// in its reader, as a topic SUBSCRIBE waits for the Bus, for the Presence
// to have that topic's members, at most ListenWait.
//
// # Cluster mode
//
// With Options.Bus, several brokers behave as one for topics and user
// destinations. A message published on a node goes to that node's
// subscribers, then to the Bus, which carries it to the other nodes; there
// Deliver hands it to their own subscribers only, so that each subscriber
// receives it once. A node listens on a destination through the Bus only
// while it has a local subscriber to it. One publisher's messages to one
// destination keep their order on every node.
//
// A topic SEND waits for no other node: its RECEIPT means that the message
// went to this node's subscribers and was handed to the Bus, which may
// still lose it (Redis unreachable, its backlog full: counted as dropped),
// not that other nodes delivered it. With Options.Streams, a SEND to a
// topic with history goes to Streams.Append, and a RECEIPT of the
// connection (of that SEND or any later frame) waits until the streams
// kept every such message it sent before (Streams.Appended), as it waits
// for queue stores: the RECEIPT then means that every node's subscribers
// will get the message, and an ERROR (code unavailable, with the
// receipt-id) comes instead when one was not kept. The reader goes on
// meanwhile, and the RECEIPTs follow in their order, so that the
// connection's later SENDs reach this node's subscribers while the
// streams keep nothing (Redis down); only a SUBSCRIBE's or DISCONNECT's
// RECEIPT, or one past maxReceiptsDue waiting, makes the reader wait, and
// the client's heart-beats then count from the end of the wait. A SUBSCRIBE to a topic or user
// destination waits instead for the Bus to listen on it (Bus.Listen's
// channel; a round trip to Redis for a destination new to the node), so
// that its RECEIPT means that every message published from then on, on
// any node, reaches the subscriber. Subscribers arriving while the first
// one waits wait for the same Listen. The wait is in the subscriber's
// reader, under no lock, and ends after at most ListenWait (or one of the
// client's heart-beat intervals, if shorter), or when the connection
// ends. When the Bus knows it cannot listen (Redis unreachable) it does
// not wait at all: the subscription then works locally at once, and
// receives other nodes' messages once the Bus listens again. A destination
// keeps the answer its first Listen got, so a SUBSCRIBE to one that
// existed during an outage does not wait for the Bus to recover either.
// Without a Bus nothing waits. Queues are not carried by the Bus.
//
// # Shared queues
//
// With Options.Queues (a QueueBackend, such as broker/redisqueue's), the
// queues are shared by the nodes of a cluster: a queue SEND is encoded (a
// STOMP 1.2 SEND frame, the stomp codec's, so that one node's message is
// another's unchanged) and handed to the backend without waiting, and a
// frame that asks for a RECEIPT waits until every queue message its session
// sent before it was stored; the first that was not fails that frame with
// an ERROR (limit-exceeded for a full queue, unavailable otherwise) and no
// RECEIPT. Each failure is counted as dropped (queue_full, not_stored).
// The consumers of a node keep the machinery above; the queue's reader in
// the backend reads only what they have credit for, and what a dispatch
// cannot place (a consumer left, NACKed, or lost its credit) goes back to
// the backend at once, for any node, redelivered when it had been handed to
// a consumer, and keeps its place there: it is delivered again before the
// messages never delivered, in the order they were sent, as in a queue of
// one node. ACK, auto-mode delivery and NACK with requeue:false remove a
// message from the backend. The backend's Open is called with the router's
// lock held, and must neither block nor call back; every other backend
// call is made with no lock held. Without Options.Queues none of this
// runs: a nil check is all it costs.
//
// # Durable queues
//
// With Options.Journal (on one node; persist's Journal in stompd), a queue
// SEND with persistent:true is kept across restarts and crashes. Its
// message takes its place in its queue at once, within the queue's limits,
// and is appended to the Journal without waiting; until the Journal has
// stored it, neither it nor anything behind it in that queue is delivered,
// so that the queue keeps the order of the SENDs and nothing is delivered
// that a crash could take back. A frame that asks for a RECEIPT waits for
// every persistent message its session sent before it, as with shared
// queues (see stores); one the Journal did not store leaves its queue and
// fails that frame with an ERROR (unavailable), counted as dropped,
// not_stored. A persistent message leaves the Journal when a consumer is
// done with it: ACK, delivery to an auto-mode consumer, NACK with
// requeue:false, or a drop as not_text; the RECEIPT of the ACK or NACK
// waits for that removal, and fails likewise when it failed. NACK,
// UNSUBSCRIBE and disconnect put it back in its queue, still stored. New
// loads what the Journal holds into the queues, in the order it was
// appended and beyond the queue limits (each message was admitted under
// them once); the messages wait there for a consumer like any other.
// Non-persistent queue messages never reach the Journal: their path costs
// one nil check more. The Journal is called with no lock held; its
// callbacks take queue.mu and the session's stores like any other caller.
// With Options.Queues, every queue message is stored by the backend and
// the Journal is not used.
//
// # Limits
//
// Options documents every limit and its default. The
// decoder enforces body, header count and header line sizes as bytes arrive;
// the session enforces subscriptions, transactions, their frames and the
// bytes they hold; the outbox the pending bytes; the router the
// destinations; queues what they buffer, in the heap bytes that messages and
// queues cost (cost.go); Serve and ServeHTTP the connection counts.
//
// # Goroutines
//
// Serve's caller owns the accept loop; each accepted connection has its
// reader (started by Serve or ServeHTTP), writer runs while it has
// something to write (on the broker's pooled writer goroutines, which end
// 100 ms after their last run, or when Shutdown cancels), and a timer
// (time.AfterFunc) whose period is a quarter of the shortest heart-beat
// interval, at most a second while there is a CONNECT timeout or a token
// deadline to watch, and a minute otherwise. The reader waits for the
// writer's last run, which stops the timer; Shutdown waits for every
// reader.
//
// # Ownership
//
// The strings of a Request or Credential passed to a hook may share the
// frame's bytes: they are valid only during the call, and a hook clones
// what it keeps. The broker copies what it keeps of a frame (a message, a
// transaction's frames).
package broker
