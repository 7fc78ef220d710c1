package broker

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
)

// Options configures a Broker. The zero value of every field means the
// default documented next to it.
type Options struct {
	Logger     *slog.Logger     // nil: discard
	Metrics    *metrics.Set     // nil: no metrics
	Now        func() time.Time // nil: time.Now
	ServerName string           // CONNECTED server header, default "stompd"

	// Authorizer decides on every request (see Authorizer). Without one,
	// New refuses to build the broker (ErrNoAuthorizer) unless
	// AllowAnonymous is set.
	Authorizer Authorizer
	// AllowAnonymous lets a broker without an Authorizer serve: every
	// CONNECT is then accepted as the subject its login header names
	// ("anonymous" without one), never expiring, every request is allowed
	// and an in-band refresh changes nothing. Meant for tests and trusted
	// networks; it has no effect with an Authorizer.
	AllowAnonymous bool
	// Upgrade checks a WebSocket upgrade; nil lets every upgrade through,
	// to be decided on at CONNECT.
	Upgrade UpgradeAuthenticator
	// Refresher serves in-band refreshes; nil refuses them (ERROR
	// forbidden), except under AllowAnonymous.
	Refresher Refresher
	// CheckOrigin decides whether a WebSocket upgrade's Origin is allowed.
	// nil: same origin only (a request without Origin is allowed). A refused
	// origin is answered 403 before any upgrade.
	CheckOrigin func(r *http.Request) bool
	// ClientAddress names the client of a WebSocket or SockJS upgrade: the
	// address MaxConnectionsPerAddr counts it under, and the remote its
	// connection logs and hooks see. nil: r.RemoteAddr. Behind a reverse
	// proxy, set it to one that reads X-Forwarded-For from trusted proxies
	// only. A TCP connection is always its peer's address.
	ClientAddress func(r *http.Request) string
	// ClientTLS says whether the client of a WebSocket or SockJS upgrade
	// reached the server over TLS, as Sessions lists it. nil: whether r
	// came over TLS. Behind a reverse proxy that ends TLS, set it to one
	// that reads X-Forwarded-Proto from trusted proxies only. A TCP
	// connection is TLS when its listener is.
	ClientTLS func(r *http.Request) bool
	// Bus carries topic and user-destination messages between the nodes of
	// a cluster; nil serves one node alone.
	Bus Bus

	// Presence shares the members of topics with the other nodes of a
	// cluster (see Presence); nil shows this node's subscribers alone.
	Presence Presence

	// Queues shares queues with the other nodes of a cluster (see
	// QueueBackend); nil keeps them in this process. With it, a queue SEND
	// is handed to the backend, a RECEIPT (of that frame or any later one)
	// is sent only once every queue message the session sent before it was
	// stored, and the limits on what queues buffer are the backend's.
	Queues QueueBackend
	// Journal keeps the persistent messages (SENDs with persistent:true)
	// of this node's queues across restarts (see Journal); nil keeps every
	// queue message in memory only. It is not used with Queues, which
	// store every queue message.
	Journal Journal

	// HistorySize turns topic history on: each /topic/ destination keeps
	// its latest HistorySize messages (0, the default, keeps none), at
	// most MaxHistoryBytes of them, none older than HistoryTTL, and its
	// messages carry x-stream-offset and x-stream-epoch, from which a
	// SUBSCRIBE may resume. A topic with history exists while it has
	// subscribers or keeps a message, and counts against MaxDestinations;
	// without subscribers, it is evicted when a new destination needs its
	// place.
	// With a Bus, history needs Streams, and is off without them.
	HistorySize     int
	HistoryTTL      time.Duration // 5 minutes
	MaxHistoryBytes int           // heap bytes a topic's history holds, 2 MiB, half of MaxPendingBytes' default so that a replay fits
	// MaxHistoryTotalBytes bounds the heap bytes all topics' histories hold
	// together, 128 MiB: beyond it, a topic that takes a message lets its
	// own oldest ones go (counted in history_evicted_total), so that many
	// topics cannot together hold what one may.
	MaxHistoryTotalBytes int
	// Streams keeps the topics' history for the nodes of a cluster (see
	// Streams); nil keeps it in this process.
	Streams Streams
	// Histories restores the topic histories Broker.Histories returned
	// when an earlier broker of this node shut down: same epochs, offsets
	// continuing. It is ignored with Streams or without history.
	Histories []TopicHistory

	// Limits bound the frames the decoder accepts: MaxBodySize (1 MiB),
	// MaxHeaders (64) and MaxHeaderLine (8 KiB) always, MaxFrameSize (16
	// KiB) only until CONNECT succeeds; after it a frame is bounded by the
	// others.
	stomp.Limits
	ConnectTimeout   time.Duration // accept or upgrade to CONNECT, 10 s
	MaxSubscriptions int           // per connection, 1,000
	MaxUnacked       int           // per subscription without prefetch-count, 1,000
	MaxPendingBytes  int           // outbound bytes per connection, 4 MiB, then slow-consumer cut
	WriteTimeout     time.Duration // 10 s per batch written; over TCP up to a 64th more (see tcp.go)
	// FrameTimeout bounds the time from a frame's first byte to its last,
	// 30 s; a client that leaves a frame half-sent longer is sent an ERROR
	// (CodeLimitExceeded) and cut off, and frees the bytes of it held.
	FrameTimeout time.Duration
	// MaxPartialBytes bounds the heap bytes that work not yet complete
	// holds on all connections together, 256 MiB: the frames spread over
	// several reads, begun and not complete (beyond the first 64 KiB of
	// each, which its read buffer holds anyway), and the frames of open
	// transactions. A connection whose frame or transaction would pass it
	// is sent an ERROR (CodeLimitExceeded) and cut off.
	MaxPartialBytes int
	// Heart-beats: in each direction the server honours the client's figure
	// (CONNECT heart-beat cx,cy) down to MinHeartBeat; where the client says
	// 0 there are none, as the spec rules, and CONNECTED merely advertises
	// HeartBeat, or 0,0 to a client that offers none in either direction.
	HeartBeat             time.Duration // offered, 10 s
	MinHeartBeat          time.Duration // floor accepted, 1 s
	MaxQueueLength        int           // messages buffered per queue, 100,000
	MaxQueueBytes         int           // heap bytes buffered per queue, 64 MiB
	MaxQueuedBytes        int           // heap bytes held by all queues together, and by their deliveries awaiting ACK, 1 GiB
	MaxDestinations       int           // topics, queues and user destinations at once, 100,000; a topic kept only by its history makes room
	MaxQueuesPerUser      int           // queues that one user's SENDs and SUBSCRIBEs made and that exist at once, 10,000; see admitQueueLocked
	MaxTransactions       int           // open per connection, 16
	MaxTransactionFrames  int           // SEND/ACK/NACK per transaction, 1,000
	MaxTransactionBytes   int           // held by a connection's open transactions, 4 MiB
	MaxConnections        int           // total, 0 = unlimited
	MaxConnectionsPerAddr int           // per client address, 0 = unlimited
}

// Defaults of the Options limits.
const (
	DefaultMaxFrameSizeBeforeConnect = 16 << 10
	DefaultConnectTimeout            = 10 * time.Second
	DefaultMaxSubscriptions          = 1000
	DefaultMaxUnacked                = 1000
	DefaultMaxPendingBytes           = 4 << 20
	DefaultWriteTimeout              = 10 * time.Second
	DefaultFrameTimeout              = 30 * time.Second
	DefaultMaxPartialBytes           = 256 << 20
	DefaultHeartBeat                 = 10 * time.Second
	DefaultMinHeartBeat              = time.Second
	DefaultMaxQueueLength            = 100000
	DefaultMaxQueueBytes             = 64 << 20
	DefaultMaxQueuedBytes            = 1 << 30
	DefaultMaxDestinations           = 100000
	DefaultMaxQueuesPerUser          = 10000
	DefaultMaxTransactions           = 16
	DefaultMaxTransactionFrames      = 1000
	DefaultMaxTransactionBytes       = 4 << 20
	DefaultHistoryTTL                = 5 * time.Minute
	DefaultMaxHistoryBytes           = 2 << 20
	DefaultMaxHistoryTotalBytes      = 128 << 20
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientAddress == nil {
		o.ClientAddress = remoteAddr
	}
	if o.ClientTLS == nil {
		o.ClientTLS = cameOverTLS
	}
	if o.Queues != nil {
		o.Journal = nil
	}
	if o.ServerName == "" {
		o.ServerName = "stompd"
	}
	o.MaxBodySize = orInt(o.MaxBodySize, stomp.DefaultMaxBodySize)
	o.MaxFrameSize = orInt(o.MaxFrameSize, DefaultMaxFrameSizeBeforeConnect)
	o.MaxHeaders = orInt(o.MaxHeaders, stomp.DefaultMaxHeaders)
	o.MaxHeaderLine = orInt(o.MaxHeaderLine, stomp.DefaultMaxHeaderLine)
	o.ConnectTimeout = orDuration(o.ConnectTimeout, DefaultConnectTimeout)
	o.MaxSubscriptions = orInt(o.MaxSubscriptions, DefaultMaxSubscriptions)
	o.MaxUnacked = orInt(o.MaxUnacked, DefaultMaxUnacked)
	o.MaxPendingBytes = orInt(o.MaxPendingBytes, DefaultMaxPendingBytes)
	o.WriteTimeout = orDuration(o.WriteTimeout, DefaultWriteTimeout)
	o.FrameTimeout = orDuration(o.FrameTimeout, DefaultFrameTimeout)
	o.MaxPartialBytes = orInt(o.MaxPartialBytes, DefaultMaxPartialBytes)
	o.HeartBeat = orDuration(o.HeartBeat, DefaultHeartBeat)
	o.MinHeartBeat = orDuration(o.MinHeartBeat, DefaultMinHeartBeat)
	o.MaxQueueLength = orInt(o.MaxQueueLength, DefaultMaxQueueLength)
	o.MaxQueueBytes = orInt(o.MaxQueueBytes, DefaultMaxQueueBytes)
	o.MaxQueuedBytes = orInt(o.MaxQueuedBytes, DefaultMaxQueuedBytes)
	o.MaxDestinations = orInt(o.MaxDestinations, DefaultMaxDestinations)
	o.MaxQueuesPerUser = orInt(o.MaxQueuesPerUser, DefaultMaxQueuesPerUser)
	o.MaxTransactions = orInt(o.MaxTransactions, DefaultMaxTransactions)
	o.MaxTransactionFrames = orInt(o.MaxTransactionFrames, DefaultMaxTransactionFrames)
	o.MaxTransactionBytes = orInt(o.MaxTransactionBytes, DefaultMaxTransactionBytes)
	o.HistoryTTL = orDuration(o.HistoryTTL, DefaultHistoryTTL)
	o.MaxHistoryBytes = orInt(o.MaxHistoryBytes, DefaultMaxHistoryBytes)
	o.MaxHistoryTotalBytes = orInt(o.MaxHistoryTotalBytes, DefaultMaxHistoryTotalBytes)
	return o
}

// limits returns the decoder limits before (connected false) or after a
// successful CONNECT.
func (o *Options) limits(connected bool) stomp.Limits {
	l := o.Limits
	if connected {
		l.MaxFrameSize = 0
	}
	return l
}

// remoteAddr is the default ClientAddress: the TCP peer.
func remoteAddr(r *http.Request) string { return r.RemoteAddr }

// cameOverTLS is the default ClientTLS: the TCP peer's connection.
func cameOverTLS(r *http.Request) bool { return r.TLS != nil }

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
