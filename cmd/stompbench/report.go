package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// report is the outcome of a run, printed as a table or as JSON.
type report struct {
	Scenario    string  `json:"scenario"`
	Target      string  `json:"target"`
	RunID       string  `json:"run_id"`
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	Size        int     `json:"size"`
	Rate        float64 `json:"rate"`
	Window      int     `json:"window"`
	Warmup      float64 `json:"warmup_seconds"`

	Seconds      float64 `json:"seconds"`   // publishing time measured, after the warm-up
	Published    uint64  `json:"published"` // every message sent, warm-up included
	PublishRate  float64 `json:"publish_rate"`
	Delivered    uint64  `json:"delivered"` // distinct deliveries, warm-up included
	DeliveryRate float64 `json:"delivery_rate"`
	Latency      latency `json:"latency_us"`

	Expected   uint64 `json:"expected"` // deliveries the run should have made
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Corrupted  uint64 `json:"corrupted"`
	Misrouted  uint64 `json:"misrouted"` // intact messages from a stream the subscriber did not subscribe to

	Conns       *connsReport `json:"conns,omitempty"`
	Stall       *stallReport `json:"stall,omitempty"`
	Interrupted bool         `json:"interrupted,omitempty"`
	Error       string       `json:"error,omitempty"`
	Valid       bool         `json:"valid"`
}

// latency is in microseconds; it covers deliveries of messages sent after
// the warm-up.
type latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p99_9"`
	Max     float64 `json:"max"`
}

// connsReport is what the conns scenario measures.
type connsReport struct {
	Connections    int     `json:"connections"`
	ConnectSeconds float64 `json:"connect_seconds"`
	HeldSeconds    float64 `json:"held_seconds"`
	RSSBeforeKiB   int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB    int64   `json:"rss_after_kib,omitempty"`
	KiBPerConn     float64 `json:"kib_per_connection,omitempty"`
}

func (b *bench) newReport() *report {
	c := &b.cfg
	return &report{
		Scenario: c.Scenario, Target: c.target(), RunID: b.runID,
		Publishers: len(b.tp.publishers), Subscribers: len(b.tp.subscribers),
		Size: c.Size, Rate: c.Rate, Window: c.Window, Warmup: c.Warmup.Seconds(),
	}
}

// finish fills in the counts, rates and checks once the run is over.
func (b *bench) finish(r *report, pubs []*publisher, warmNs int64) {
	var measured uint64
	endNs := warmNs
	for _, s := range b.tp.streams {
		sent := s.sent.Load()
		r.Published += sent
		measured += sent - s.warm
	}
	for _, p := range pubs {
		endNs = max(endNs, p.endNs)
	}
	r.Seconds = float64(endNs-warmNs) / 1e9
	r.PublishRate = perSecond(measured, endNs-warmNs)

	t := b.tally()
	r.Delivered, r.Expected = t.received, t.expected
	r.DeliveryRate = perSecond(t.measured, t.lastNs-warmNs)
	r.Latency = b.latency()
	r.Lost, r.Duplicated, r.Corrupted, r.Misrouted = t.lost, t.dups, t.corrupt, t.stray
	if b.stall != nil {
		r.Stall = b.stall.result
	}
	b.mu.Lock()
	if b.err != nil {
		r.Error = b.err.Error()
	}
	b.mu.Unlock()
	r.Valid = r.Error == "" && r.Lost+r.Duplicated+r.Corrupted+r.Misrouted == 0
}

// latency merges every ledger's histogram.
func (b *bench) latency() latency {
	h := newHistogram()
	for _, l := range b.tp.ledgers {
		l.mergeLatency(h)
	}
	return latencyOf(h)
}

// latencyOf is the quantiles of h.
func latencyOf(h *histogram) latency {
	return latency{
		Samples: h.total,
		P50:     micros(h.quantile(0.5)), P99: micros(h.quantile(0.99)),
		P999: micros(h.quantile(0.999)), Max: micros(h.max),
	}
}

func perSecond(n uint64, ns int64) float64 {
	if ns <= 0 {
		return 0
	}
	return float64(n) / (float64(ns) / 1e9)
}

func micros(ns uint64) float64 { return float64(ns) / 1e3 }

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// write prints r as JSON or as a table.
func (r *report) write(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "stompbench %s against %s (run %s)\n", r.Scenario, r.Target, r.RunID)
	fmt.Fprintf(&sb, "  %-12s publishers %d, subscribers %d, body %d B, window %d", "setup", r.Publishers, r.Subscribers, r.Size, r.Window)
	if r.Rate > 0 {
		fmt.Fprintf(&sb, ", rate %s msg/s per publisher", count(uint64(r.Rate)))
	}
	sb.WriteString("\n")
	if r.Conns != nil {
		r.Conns.write(&sb)
		fmt.Fprintf(&sb, "  %-12s %s msgs, one to each connection\n", "published", count(r.Published))
		fmt.Fprintf(&sb, "  %-12s %s msgs\n", "delivered", count(r.Delivered))
	} else {
		r.writeRates(&sb)
	}
	writeLatency(&sb, r.Latency)
	if r.Stall != nil {
		r.Stall.write(&sb)
	}
	fmt.Fprintf(&sb, "  %-12s expected %s, lost %d, duplicated %d, corrupted %d, misrouted %d\n", "checks",
		count(r.Expected), r.Lost, r.Duplicated, r.Corrupted, r.Misrouted)
	writeVerdict(&sb, "error", r.Error, r.Valid)
	_, err := io.WriteString(w, sb.String())
	return err
}

// writeLatency prints the latency line of a table.
func writeLatency(sb *strings.Builder, l latency) {
	fmt.Fprintf(sb, "  %-12s p50 %s  p99 %s  p99.9 %s  max %s  (%s samples)\n", "latency",
		humanLatency(l.P50), humanLatency(l.P99), humanLatency(l.P999), humanLatency(l.Max), count(l.Samples))
}

// writeVerdict prints the error, if any, under label, and the result.
func writeVerdict(sb *strings.Builder, label, errText string, valid bool) {
	if errText != "" {
		fmt.Fprintf(sb, "  %-12s %s\n", label, errText)
	}
	verdict := "OK"
	if !valid {
		verdict = "INVALID"
	}
	fmt.Fprintf(sb, "  %-12s %s\n", "result", verdict)
}

func (r *report) writeRates(sb *strings.Builder) {
	fmt.Fprintf(sb, "  %-12s %.2f s", "measured", r.Seconds)
	if r.Warmup > 0 {
		fmt.Fprintf(sb, " after a %.2f s warm-up", r.Warmup)
	}
	if r.Interrupted {
		sb.WriteString(", interrupted")
	}
	sb.WriteString("\n")
	fmt.Fprintf(sb, "  %-12s %14s msgs  %14s msg/s\n", "published", count(r.Published), count(uint64(r.PublishRate)))
	fmt.Fprintf(sb, "  %-12s %14s msgs  %14s msg/s\n", "delivered", count(r.Delivered), count(uint64(r.DeliveryRate)))
}

func (c *connsReport) write(sb *strings.Builder) {
	rate := float64(c.Connections) / max(c.ConnectSeconds, 1e-9)
	fmt.Fprintf(sb, "  %-12s %s opened in %.2f s (%s/s), held %.2f s\n", "connections",
		count(uint64(c.Connections)), c.ConnectSeconds, count(uint64(rate)), c.HeldSeconds)
	if c.RSSAfterKiB > 0 {
		fmt.Fprintf(sb, "  %-12s %s KiB before, %s KiB after: %.2f KiB per connection\n", "broker RSS",
			count(uint64(c.RSSBeforeKiB)), count(uint64(c.RSSAfterKiB)), c.KiBPerConn)
	}
}

// count formats n with thousands separators.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var sb strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(d)
	}
	return sb.String()
}

// humanLatency formats a latency in microseconds with three significant digits.
func humanLatency(us float64) string {
	d := time.Duration(us * 1e3)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return strconv.FormatFloat(us, 'f', decimals(us), 64) + "µs"
	case d < time.Second:
		ms := us / 1e3
		return strconv.FormatFloat(ms, 'f', decimals(ms), 64) + "ms"
	}
	s := us / 1e6
	return strconv.FormatFloat(s, 'f', decimals(s), 64) + "s"
}

// decimals gives three significant digits to a value from 1 to 999.
func decimals(v float64) int {
	switch {
	case v < 10:
		return 2
	case v < 100:
		return 1
	}
	return 0
}
