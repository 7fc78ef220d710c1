package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
)

// destKind says how a destination routes: fan-out to every subscriber
// (topic, user) or to one consumer at a time (queue).
type destKind uint8

const (
	kindTopic destKind = iota
	kindQueue
	kindUser
	kindPresence // a presence subscription, and the MESSAGEs it is sent
	numKinds
)

var kindLabels = [numKinds]string{kindTopic: metrics.KindTopic, kindQueue: metrics.KindQueue, kindUser: metrics.KindUser, kindPresence: metrics.KindPresence}

// transportKind is the transport a connection came over.
type transportKind uint8

const (
	transportTCP transportKind = iota
	transportWebSocket
	numTransports
)

var transportLabels = [numTransports]string{transportTCP: metrics.TransportTCP, transportWebSocket: metrics.TransportWebSocket}

func (t transportKind) String() string { return transportLabels[t] }

// instruments holds the broker's metric children, resolved once in New so
// that the hot path never looks a label up.
type instruments struct {
	connections  [numTransports]prometheus.Gauge
	accepted     [numTransports]prometheus.Counter
	framesIn     [stomp.ERROR + 1]prometheus.Counter
	framesOut    [stomp.ERROR + 1]prometheus.Counter
	published    [numKinds]prometheus.Counter
	delivered    [numKinds]prometheus.Counter
	destinations [numKinds]prometheus.Gauge

	dropNoSubscriber, dropQueueFull, dropSlowConsumer, dropAborted, dropNacked, dropNotText, dropMalformed, dropNotStored prometheus.Counter

	subscriptions       prometheus.Gauge
	destinationsRefused prometheus.Counter
	destinationsEvicted prometheus.Counter
	queueDepth          prometheus.Gauge
	slowConsumers       prometheus.Counter
	frameTimeouts       prometheus.Counter
	partialCuts         prometheus.Counter
	latency             prometheus.Histogram

	presenceSubscriptions, presenceMembers prometheus.Gauge
	presenceJoins, presenceLeaves          prometheus.Counter
	resumeRecovered, resumeLost            prometheus.Counter
	replayed                               prometheus.Counter
	historyMessages, historyBytes          prometheus.Gauge
	historyEvicted                         prometheus.Counter
}

func newInstruments(s *metrics.Set) *instruments {
	m := &instruments{
		dropNoSubscriber:    s.MessagesDropped.WithLabelValues(metrics.DropNoSubscriber),
		dropQueueFull:       s.MessagesDropped.WithLabelValues(metrics.DropQueueFull),
		dropSlowConsumer:    s.MessagesDropped.WithLabelValues(metrics.DropSlowConsumer),
		dropAborted:         s.MessagesDropped.WithLabelValues(metrics.DropAborted),
		dropNacked:          s.MessagesDropped.WithLabelValues(metrics.DropNackDiscarded),
		dropNotText:         s.MessagesDropped.WithLabelValues(metrics.DropNotText),
		dropMalformed:       s.MessagesDropped.WithLabelValues(metrics.DropClusterMalformed),
		dropNotStored:       s.MessagesDropped.WithLabelValues(metrics.DropNotStored),
		subscriptions:       s.Subscriptions,
		destinationsRefused: s.DestinationsRefused,
		destinationsEvicted: s.DestinationsEvicted,
		queueDepth:          s.QueueDepth,
		slowConsumers:       s.SlowConsumerDisconnects,
		frameTimeouts:       s.FrameTimeoutDisconnects,
		partialCuts:         s.PartialFrameDisconnects,
		latency:             s.DeliveryLatency,

		presenceSubscriptions: s.PresenceSubscriptions,
		presenceMembers:       s.PresenceMembers,
		presenceJoins:         s.PresenceEvents.WithLabelValues(metrics.PresenceJoin),
		presenceLeaves:        s.PresenceEvents.WithLabelValues(metrics.PresenceLeave),

		resumeRecovered: s.Resumes.WithLabelValues(metrics.ResumeRecovered),
		resumeLost:      s.Resumes.WithLabelValues(metrics.ResumeLost),
		replayed:        s.MessagesReplayed,
		historyMessages: s.HistoryMessages,
		historyBytes:    s.HistoryBytes,
		historyEvicted:  s.HistoryEvicted,
	}
	for t, l := range transportLabels {
		m.connections[t] = s.Connections.WithLabelValues(l)
		m.accepted[t] = s.ConnectionsAccepted.WithLabelValues(l)
	}
	for _, c := range stomp.Commands() {
		m.framesIn[c] = s.FramesReceived.WithLabelValues(c.String())
		m.framesOut[c] = s.FramesSent.WithLabelValues(c.String())
	}
	for k, l := range kindLabels {
		m.published[k] = s.MessagesPublished.WithLabelValues(l)
		m.delivered[k] = s.MessagesDelivered.WithLabelValues(l)
		if destKind(k) != kindPresence { // a presence subscription makes no destination
			m.destinations[k] = s.Destinations.WithLabelValues(l)
		}
	}
	return m
}

// countResume counts a SUBSCRIBE's resume (r nil: it asked for none) and
// the messages it replays.
func (m *instruments) countResume(r *resume, recovered bool, replayed int) {
	switch {
	case r == nil:
		return
	case recovered:
		m.resumeRecovered.Inc()
	default:
		m.resumeLost.Inc()
	}
	m.replayed.Add(float64(replayed))
}
