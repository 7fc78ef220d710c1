package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "stompd"

// Label values. Each label's values are fixed; callers resolve children with
// these and nothing else.
const (
	TransportTCP       = "tcp"
	TransportWebSocket = "websocket"

	KindTopic = "topic"
	KindQueue = "queue"
	KindUser  = "user"
	// KindPresence is the kind of the MESSAGEs of presence subscriptions
	// (/presence/topic/<name>), which the broker makes itself.
	KindPresence = "presence"

	// Presence events.
	PresenceJoin  = "join"
	PresenceLeave = "leave"

	// Reasons a message is dropped.
	DropNoSubscriber  = "no_subscriber"
	DropQueueFull     = "queue_full"
	DropSlowConsumer  = "slow_consumer"
	DropAborted       = "aborted"
	DropExpired       = "expired"
	DropNotText       = "not_text"       // a text-only transport (SockJS) cannot carry the body
	DropNackDiscarded = "nack_discarded" // a consumer's NACK with requeue:false
	// Between the nodes of a cluster: the backlog of messages for other
	// nodes was full, Redis failed or refused them (or was unreachable), or
	// what came from another node was not a message.
	DropClusterBacklog     = "cluster_backlog"
	DropClusterUnavailable = "cluster_unavailable"
	DropClusterMalformed   = "cluster_malformed"
	// A message to a topic with history that waited for Redis in the
	// outbox of its node while Redis was down, dropped as the outbox
	// was full.
	DropClusterOutbox = "cluster_outbox"

	DropNotStored = "not_stored" // a shared queue's store (Redis) did not take it

	// Reasons a shared queue's message goes back to it for another
	// consumer.
	RequeueRedelivered = "redelivered" // a consumer did not acknowledge it (NACK, UNSUBSCRIBE, disconnect)
	RequeueReturned    = "returned"    // read for a node whose consumers could not take it after all
	RequeueReclaimed   = "reclaimed"   // pending for a node that is no longer alive

	// Stages at which a token is checked.
	StageUpgrade   = "upgrade"
	StageConnect   = "connect"
	StageSend      = "send"
	StageSubscribe = "subscribe"
	StageLogin     = "login"
	StageRefresh   = "refresh"
	StageTicket    = "ticket"
	StageLogout    = "logout"
	StageToken     = "token"

	// Kinds of record the sweeper deletes.
	SweptRefreshToken = "refresh_token"
	SweptDeniedToken  = "denied_token"
	SweptFamily       = "family"

	// Outcomes of a command sent to Redis.
	RedisOK         = "ok"          // Redis answered, a nil reply included
	RedisErrorReply = "error_reply" // Redis answered with an error reply
	RedisFailed     = "failed"      // no answer: Redis unreachable, a timeout, or the caller gave up

	// Results of a SUBSCRIBE that asks to resume a topic's history.
	ResumeRecovered = "recovered" // met in full
	ResumeLost      = "lost"      // epoch changed, or older than what is kept: nothing replayed

	// Results of a fetch of an identity provider's JWKS (--jwks-url).
	JWKSRefreshOK     = "ok"
	JWKSRefreshFailed = "failed" // unreachable, not 200, or not a JWKS: the keys held are kept
)

// Transports, Kinds and Stages list the label values above, for callers that
// resolve every child up front.
var (
	Transports = []string{TransportTCP, TransportWebSocket}
	Kinds      = []string{KindTopic, KindQueue, KindUser, KindPresence}
	Stages     = []string{StageUpgrade, StageConnect, StageSend, StageSubscribe, StageLogin, StageRefresh, StageTicket, StageLogout, StageToken}
	// RedisResults lists the outcomes of a Redis command.
	RedisResults = []string{RedisOK, RedisErrorReply, RedisFailed}
)

// Set holds every stompd metric family.
type Set struct {
	// Broker, labels: transport.
	Connections         *prometheus.GaugeVec
	ConnectionsAccepted *prometheus.CounterVec
	// Labels: command (a STOMP command name).
	FramesReceived *prometheus.CounterVec
	FramesSent     *prometheus.CounterVec
	// Labels: kind.
	MessagesPublished *prometheus.CounterVec
	MessagesDelivered *prometheus.CounterVec
	Destinations      *prometheus.GaugeVec
	// DestinationsRefused counts SENDs and SUBSCRIBEs refused because they
	// would have created a destination beyond the broker's limit.
	DestinationsRefused prometheus.Counter
	// DestinationsEvicted counts the topics without subscribers, kept only
	// by their history, removed to make room for a new destination at the
	// broker's limit.
	DestinationsEvicted prometheus.Counter
	// Labels: reason (Drop*).
	MessagesDropped         *prometheus.CounterVec
	Subscriptions           prometheus.Gauge
	QueueDepth              prometheus.Gauge
	SlowConsumerDisconnects prometheus.Counter
	// FrameTimeoutDisconnects counts the connections cut off because a
	// frame they began did not complete within the frame timeout.
	FrameTimeoutDisconnects prometheus.Counter
	// PartialFrameDisconnects counts the connections cut off because their
	// half-received frame, or a SEND in a transaction, would have passed the
	// bytes all unfinished frames and open transactions may hold together.
	PartialFrameDisconnects prometheus.Counter
	// QueueRequeued counts the messages of shared queues (cluster mode)
	// given back for another consumer. Labels: reason (Requeue*).
	QueueRequeued *prometheus.CounterVec
	// DeliveryLatency is the time from a SEND being accepted to the write of
	// its MESSAGE to a subscriber's socket starting, sampled once per batch
	// for the batch's oldest message (every message when the writer keeps
	// up, so that a batch holds one).
	DeliveryLatency prometheus.Histogram

	// Presence. PresenceSubscriptions counts the subscriptions to
	// /presence/ destinations, PresenceMembers the members this node shows
	// them, summed over topics (on one node, the members of every topic),
	// and PresenceEvents the join and leave MESSAGEs sent to them
	// (labels: event). PresenceResyncs counts, in cluster mode, the times a
	// node lost track of the members in Redis (a partition's events no
	// longer followed, Redis unreachable; a gap in a topic's events), after
	// which it shows its own and then reads them afresh.
	PresenceSubscriptions prometheus.Gauge
	PresenceMembers       prometheus.Gauge
	PresenceEvents        *prometheus.CounterVec
	PresenceResyncs       prometheus.Counter

	// Auth. AuthFailures labels: stage, reason (a short fixed code chosen by
	// the caller, such as "expired", "bad_signature", "replayed").
	AuthSuccesses *prometheus.CounterVec
	AuthFailures  *prometheus.CounterVec
	// TicketToUpgrade is the time from a ticket being issued to its upgrade.
	TicketToUpgrade prometheus.Histogram

	// AdminRequests counts requests to the admin API, by action (such as
	// users.add; "refused" for those refused before any action: no valid
	// token, or not the role admin) and result (an error code, or "ok").
	AdminRequests *prometheus.CounterVec

	// Store.
	RefreshTokens prometheus.Gauge
	SweepDeleted  *prometheus.CounterVec
	SweepDuration prometheus.Histogram

	// Cluster mode. RedisCommands labels: result (Redis*), one count per
	// command, a pipelined batch counting each of its commands.
	RedisCommands *prometheus.CounterVec
	// RedisLatency is the time one call to Redis took, a pipelined batch
	// being one call; blocking commands (which wait for data by design,
	// such as XREADGROUP BLOCK) and subscriptions are left out.
	RedisLatency prometheus.Histogram
	// ClusterNodes is how many nodes, this one included, this node sees
	// Ready is 1 while the node answers /readyz with 200: it serves, is not
	// shutting down and, with --redis, Redis answers; 0 otherwise.
	Ready prometheus.Gauge
	// alive: 1 without Redis.
	ClusterNodes prometheus.Gauge

	// Durable queues on one node: the journal of persistent queue
	// messages in the bbolt store. JournalCommits counts its committed
	// transactions (each one fsync), JournalCommitMessages the messages
	// each one appended or removed (group commit puts many in one), and
	// JournalErrors the transactions that failed, storing and removing
	// nothing of their batch (the SENDs get an ERROR).
	JournalCommits        prometheus.Counter
	JournalCommitMessages prometheus.Histogram
	JournalErrors         prometheus.Counter

	// Topic history. Resumes labels: result (Resume*), one count per
	// SUBSCRIBE carrying x-stream headers. HistoryMessages and
	// HistoryBytes are what this node's topic histories hold (heap bytes).
	Resumes          *prometheus.CounterVec
	MessagesReplayed prometheus.Counter
	HistoryMessages  prometheus.Gauge
	HistoryBytes     prometheus.Gauge
	// HistoryEvicted counts messages a history let go before its own
	// bounds said so, because all histories together held their bound.
	HistoryEvicted prometheus.Counter

	// Verify-only mode on an identity provider's JWKS (--jwks-url).
	// JWKSRefreshes labels: result (JWKSRefresh*), one count per fetch
	// (a failed first one stops the start); JWKSKeys is the usable keys
	// held.
	JWKSRefreshes *prometheus.CounterVec
	JWKSKeys      prometheus.Gauge

	// The ring of signing keys kept in the store (Ed25519 mode):
	// SigningKeys is the keys it holds, the current one and those that
	// still verify; KeyRotations counts the rotations made on this node.
	SigningKeys  prometheus.Gauge
	KeyRotations prometheus.Counter
}

// New creates every family and registers it, with the Go runtime and
// process collectors, on reg.
func New(reg prometheus.Registerer) *Set {
	s := &Set{
		Connections:             gaugeVec("connections", "Open client connections.", "transport"),
		ConnectionsAccepted:     counterVec("connections_accepted_total", "Client connections accepted.", "transport"),
		FramesReceived:          counterVec("frames_received_total", "STOMP frames received from clients.", "command"),
		FramesSent:              counterVec("frames_sent_total", "STOMP frames sent to clients.", "command"),
		MessagesPublished:       counterVec("messages_published_total", "Messages accepted from publishers.", "kind"),
		MessagesDelivered:       counterVec("messages_delivered_total", "MESSAGE frames handed to subscribers.", "kind"),
		Destinations:            gaugeVec("destinations", "Destinations that exist (with subscribers or buffered messages), by kind: topic, queue or user.", "kind"),
		MessagesDropped:         counterVec("messages_dropped_total", "Messages not delivered, by reason.", "reason"),
		DestinationsRefused:     counter("destinations_refused_total", "SENDs and SUBSCRIBEs refused because they would have created a destination beyond the limit."),
		DestinationsEvicted:     counter("destinations_evicted_total", "Topics without subscribers, kept only by their history, removed with it to make room for a new destination at the limit."),
		Subscriptions:           gauge("subscriptions", "Active subscriptions."),
		QueueDepth:              gauge("queue_depth", "Messages buffered in queues, waiting for a consumer."),
		SlowConsumerDisconnects: counter("slow_consumer_disconnects_total", "Connections cut off because they did not read fast enough."),
		FrameTimeoutDisconnects: counter("frame_timeout_disconnects_total", "Connections cut off because a frame they began did not complete within the frame timeout."),
		PartialFrameDisconnects: counter("partial_frame_disconnects_total", "Connections cut off because their half-received frame, or a SEND in a transaction, would have passed --max-partial-bytes, the bytes all unfinished frames and open transactions may hold together."),
		QueueRequeued:           counterVec("queue_requeued_total", "Messages of queues shared between nodes given back for another consumer, by reason.", "reason"),
		DeliveryLatency: histogram("delivery_latency_seconds", "Time from a SEND being accepted to the write of its MESSAGE starting, sampled once per write batch for its oldest message.",
			prometheus.ExponentialBuckets(25e-6, 2, 16)),
		PresenceSubscriptions: gauge("presence_subscriptions", "Subscriptions to presence destinations."),
		PresenceMembers:       gauge("presence_members", "Members of topics shown to presence subscribers on this node, summed over topics."),
		PresenceEvents:        counterVec("presence_events_total", "Join and leave MESSAGEs sent to presence subscribers, by event.", "event"),
		PresenceResyncs:       counter("presence_resyncs_total", "Times a node lost track of the topics' members in Redis (Redis unreachable, a gap in the events) and read them afresh."),
		AuthSuccesses:         counterVec("auth_successes_total", "Successful authentications, by stage.", "stage"),
		AuthFailures:          counterVec("auth_failures_total", "Failed authentications, by stage and reason.", "stage", "reason"),
		TicketToUpgrade: histogram("ticket_upgrade_seconds", "Time from a ticket being issued to the WebSocket upgrade that used it.",
			prometheus.ExponentialBuckets(0.001, 2, 16)),
		AdminRequests: counterVec("admin_requests_total", "Requests to the admin API, by action and result (an error code, or ok); action refused: refused before any action, without a valid admin token.", "action", "result"),
		RefreshTokens: gauge("refresh_tokens", "Live refresh tokens in the store."),
		SweepDeleted:  counterVec("sweep_deleted_total", "Expired records deleted by the sweeper, by kind.", "kind"),
		SweepDuration: histogram("sweep_duration_seconds", "Duration of one sweep of expired records.",
			prometheus.ExponentialBuckets(0.0001, 4, 10)),
		RedisCommands: counterVec("redis_commands_total", "Commands sent to Redis, by result.", "result"),
		RedisLatency: histogram("redis_latency_seconds", "Time of one call to Redis (a pipelined batch is one call), blocking commands and subscriptions left out.",
			prometheus.ExponentialBuckets(50e-6, 2, 16)),
		Ready:          gauge("ready", "1 while this node answers /readyz with 200 (serving, not shutting down and, with --redis, Redis answering); 0 otherwise."),
		ClusterNodes:   gauge("cluster_nodes", "Nodes of the cluster this node sees alive, itself included; 1 without Redis."),
		JournalCommits: counter("journal_commits_total", "Transactions committed by the journal of persistent queue messages, each one fsync."),
		JournalCommitMessages: histogram("journal_commit_messages", "Persistent queue messages appended or removed per journal transaction.",
			prometheus.ExponentialBuckets(1, 2, 14)),
		JournalErrors:    counter("journal_errors_total", "Journal transactions that failed, storing and removing nothing of their batch."),
		Resumes:          counterVec("resumes_total", "SUBSCRIBEs that asked to resume a topic's history, by result.", "result"),
		MessagesReplayed: counter("messages_replayed_total", "Messages replayed from topic histories to resuming subscribers."),
		HistoryMessages:  gauge("history_messages", "Messages held in this node's topic histories."),
		HistoryBytes:     gauge("history_bytes", "Heap bytes held by this node's topic histories."),
		HistoryEvicted:   counter("history_evicted_total", "Messages let go from a topic's history early because all topic histories together held their bound (--max-history-total-bytes)."),
		JWKSRefreshes:    counterVec("jwks_refreshes_total", "Fetches of the identity provider's JWKS (--jwks-url), by result; a failed one keeps the keys held.", "result"),
		JWKSKeys:         gauge("jwks_keys", "Usable keys held from the identity provider's JWKS (--jwks-url); 0 in other modes."),
		SigningKeys:      gauge("signing_keys", "Keys in the signing-key ring: the one that signs and the older ones that still verify tokens; 0 in HS256 and verify-only modes."),
		KeyRotations:     counter("key_rotations_total", "Rotations of the signing key made on this node."),
	}
	reg.MustRegister(
		s.Connections, s.ConnectionsAccepted, s.FramesReceived, s.FramesSent,
		s.MessagesPublished, s.MessagesDelivered, s.Destinations, s.DestinationsRefused, s.DestinationsEvicted, s.MessagesDropped,
		s.Subscriptions, s.QueueDepth, s.SlowConsumerDisconnects, s.FrameTimeoutDisconnects, s.PartialFrameDisconnects, s.QueueRequeued, s.DeliveryLatency,
		s.PresenceSubscriptions, s.PresenceMembers, s.PresenceEvents, s.PresenceResyncs,
		s.AuthSuccesses, s.AuthFailures, s.TicketToUpgrade, s.AdminRequests,
		s.RefreshTokens, s.SweepDeleted, s.SweepDuration,
		s.RedisCommands, s.RedisLatency, s.ClusterNodes, s.Ready,
		s.JournalCommits, s.JournalCommitMessages, s.JournalErrors,
		s.Resumes, s.MessagesReplayed, s.HistoryMessages, s.HistoryBytes, s.HistoryEvicted,
		s.JWKSRefreshes, s.JWKSKeys, s.SigningKeys, s.KeyRotations,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Every reason is shown from the start, 0 on a single node, so that a
	// dashboard's rate of them is a line rather than no data.
	for _, reason := range []string{RequeueRedelivered, RequeueReturned, RequeueReclaimed} {
		s.QueueRequeued.WithLabelValues(reason)
	}
	for _, ev := range []string{PresenceJoin, PresenceLeave} {
		s.PresenceEvents.WithLabelValues(ev)
	}
	for _, result := range []string{ResumeRecovered, ResumeLost} {
		s.Resumes.WithLabelValues(result)
	}
	for _, result := range []string{JWKSRefreshOK, JWKSRefreshFailed} {
		s.JWKSRefreshes.WithLabelValues(result)
	}
	return s
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
}
