package broker

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkMetricsCost runs the fan-out benchmark with the broker's real
// metric children and with ones that do nothing, so the two figures show
// what counting costs on the hot path: frames sent, messages published and
// delivered, and the delivery latency histogram.
func BenchmarkMetricsCost(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d/metrics=on", subs), func(b *testing.B) {
			benchFanOut(b, Options{}, subs, 128)
		})
		b.Run(fmt.Sprintf("subscribers=%d/metrics=off", subs), func(b *testing.B) {
			benchFanOut(b, Options{}, subs, 128, func(br *Broker) { br.m = nopInstruments() })
		})
	}
}

// nopInstruments returns instruments whose every child does nothing.
func nopInstruments() *instruments {
	m := &instruments{
		dropNoSubscriber: nopCounter{}, dropQueueFull: nopCounter{}, dropSlowConsumer: nopCounter{}, dropAborted: nopCounter{},
		dropNacked: nopCounter{}, dropNotText: nopCounter{}, dropMalformed: nopCounter{}, dropNotStored: nopCounter{},
		subscriptions: nopGauge{}, destinationsRefused: nopCounter{}, queueDepth: nopGauge{}, slowConsumers: nopCounter{}, frameTimeouts: nopCounter{},
		latency:               nopHistogram{},
		presenceSubscriptions: nopGauge{}, presenceMembers: nopGauge{}, presenceJoins: nopCounter{}, presenceLeaves: nopCounter{},
		resumeRecovered: nopCounter{}, resumeLost: nopCounter{}, replayed: nopCounter{},
		historyMessages: nopGauge{}, historyBytes: nopGauge{}, historyEvicted: nopCounter{},
	}
	for t := range m.connections {
		m.connections[t], m.accepted[t] = nopGauge{}, nopCounter{}
	}
	for c := range m.framesIn {
		m.framesIn[c], m.framesOut[c] = nopCounter{}, nopCounter{}
	}
	for k := range m.published {
		m.published[k], m.delivered[k], m.destinations[k] = nopCounter{}, nopCounter{}, nopGauge{}
	}
	return m
}

// The no-op children implement only the methods the broker calls; the
// embedded nil interfaces are never used.
type nopCounter struct{ prometheus.Counter }

func (nopCounter) Inc()        {}
func (nopCounter) Add(float64) {}

type nopGauge struct{ prometheus.Gauge }

func (nopGauge) Set(float64) {}
func (nopGauge) Inc()        {}
func (nopGauge) Dec()        {}
func (nopGauge) Add(float64) {}
func (nopGauge) Sub(float64) {}

type nopHistogram struct{ prometheus.Histogram }

func (nopHistogram) Observe(float64) {}
