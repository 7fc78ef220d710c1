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

	// Hooks. A nil hook allows everything, as AllowAll does: meant for tests
	// and embedding only.
	Upgrade   UpgradeAuthenticator
	Connect   ConnectAuthenticator
	Send      SendAuthorizer
	Subscribe SubscribeAuthorizer
	// CheckOrigin decides whether a WebSocket upgrade's Origin is allowed.
	// nil: same origin only (a request without Origin is allowed). A refused
	// origin is answered 403 before any upgrade.
	CheckOrigin func(r *http.Request) bool
	// ClientAddress names the client of a WebSocket or SockJS upgrade: the
	// address MaxConnectionsPerAddr counts it under, and the remote its
	// connection logs and hooks see. nil: r.RemoteAddr. Behind a reverse
	// proxy, TrustedProxies.ClientAddress reads X-Forwarded-For. A TCP
	// connection is always its peer's address.
	ClientAddress func(r *http.Request) string

	MaxBodySize               int           // 1 MiB
	MaxFrameSizeBeforeConnect int           // 16 KiB
	MaxHeaders                int           // 64
	MaxHeaderLine             int           // 8 KiB
	ConnectTimeout            time.Duration // accept or upgrade to CONNECT, 10 s
	MaxSubscriptions          int           // per connection, 1,000
	MaxUnacked                int           // per subscription without prefetch-count, 1,000
	MaxPendingBytes           int           // outbound bytes per connection, 4 MiB, then slow-consumer cut
	WriteTimeout              time.Duration // 10 s
	// Heart-beats: in each direction the server honours the client's figure
	// (CONNECT heart-beat cx,cy) down to MinHeartBeat; where the client says
	// 0 there are none, as the spec rules, and CONNECTED merely advertises
	// HeartBeat, or 0,0 to a client that offers none in either direction.
	HeartBeat             time.Duration // offered, 10 s
	MinHeartBeat          time.Duration // floor accepted, 1 s
	MaxQueueLength        int           // messages buffered per queue, 100,000
	MaxQueueBytes         int           // heap bytes buffered per queue, 64 MiB
	MaxQueuedBytes        int           // heap bytes held by all queues together, and by their deliveries awaiting ACK, 1 GiB
	MaxDestinations       int           // topics, queues and user destinations at once, 100,000
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
	DefaultHeartBeat                 = 10 * time.Second
	DefaultMinHeartBeat              = time.Second
	DefaultMaxQueueLength            = 100000
	DefaultMaxQueueBytes             = 64 << 20
	DefaultMaxQueuedBytes            = 1 << 30
	DefaultMaxDestinations           = 100000
	DefaultMaxTransactions           = 16
	DefaultMaxTransactionFrames      = 1000
	DefaultMaxTransactionBytes       = 4 << 20
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
	if o.ServerName == "" {
		o.ServerName = "stompd"
	}
	o.MaxBodySize = orInt(o.MaxBodySize, stomp.DefaultMaxBodySize)
	o.MaxFrameSizeBeforeConnect = orInt(o.MaxFrameSizeBeforeConnect, DefaultMaxFrameSizeBeforeConnect)
	o.MaxHeaders = orInt(o.MaxHeaders, stomp.DefaultMaxHeaders)
	o.MaxHeaderLine = orInt(o.MaxHeaderLine, stomp.DefaultMaxHeaderLine)
	o.ConnectTimeout = orDuration(o.ConnectTimeout, DefaultConnectTimeout)
	o.MaxSubscriptions = orInt(o.MaxSubscriptions, DefaultMaxSubscriptions)
	o.MaxUnacked = orInt(o.MaxUnacked, DefaultMaxUnacked)
	o.MaxPendingBytes = orInt(o.MaxPendingBytes, DefaultMaxPendingBytes)
	o.WriteTimeout = orDuration(o.WriteTimeout, DefaultWriteTimeout)
	o.HeartBeat = orDuration(o.HeartBeat, DefaultHeartBeat)
	o.MinHeartBeat = orDuration(o.MinHeartBeat, DefaultMinHeartBeat)
	o.MaxQueueLength = orInt(o.MaxQueueLength, DefaultMaxQueueLength)
	o.MaxQueueBytes = orInt(o.MaxQueueBytes, DefaultMaxQueueBytes)
	o.MaxQueuedBytes = orInt(o.MaxQueuedBytes, DefaultMaxQueuedBytes)
	o.MaxDestinations = orInt(o.MaxDestinations, DefaultMaxDestinations)
	o.MaxTransactions = orInt(o.MaxTransactions, DefaultMaxTransactions)
	o.MaxTransactionFrames = orInt(o.MaxTransactionFrames, DefaultMaxTransactionFrames)
	o.MaxTransactionBytes = orInt(o.MaxTransactionBytes, DefaultMaxTransactionBytes)
	return o
}

// limits returns the decoder limits before (connected false) or after a
// successful CONNECT.
func (o *Options) limits(connected bool) stomp.Limits {
	l := stomp.Limits{MaxBodySize: o.MaxBodySize, MaxHeaders: o.MaxHeaders, MaxHeaderLine: o.MaxHeaderLine}
	if !connected {
		l.MaxFrameSize = o.MaxFrameSizeBeforeConnect
	}
	return l
}

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
