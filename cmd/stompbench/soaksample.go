package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the soak's sampler.
const (
	defaultSampleEvery = 5 * time.Second
	metricsTimeout     = 2 * time.Second
)

// pidList collects -pid: one process id or several, comma-separated.
type pidList []int

func (p *pidList) String() string {
	parts := make([]string, len(*p))
	for i, pid := range *p {
		parts[i] = strconv.Itoa(pid)
	}
	return strings.Join(parts, ",")
}

func (p *pidList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || pid <= 0 {
			return fmt.Errorf("%q is not a process id", part)
		}
		*p = append(*p, pid)
	}
	return nil
}

// checkSample validates the sampler's flags and fills in -settle's default.
func (c *config) checkSample() error {
	if c.SampleEvery <= 0 || c.Settle < 0 {
		return errors.New("-sample-every must be positive and -settle not negative")
	}
	if c.MaxRSSDrift < 0 || c.MaxGoroutineDrift < 0 {
		return errors.New("-max-rss-drift and -max-goroutine-drift must not be negative")
	}
	if len(c.PIDs) > 1 && c.Scenario == scenarioConns {
		return errors.New("conns reads the RSS of one broker: give one -pid")
	}
	if c.Settle == 0 {
		c.Settle = c.Duration / 6
	}
	if c.Scenario == scenarioSoak && c.Settle >= c.Duration {
		return fmt.Errorf("-settle %v must come before the end of -duration %v", c.Settle, c.Duration)
	}
	if c.SamplesOut != "" {
		// Found out now rather than after a long run.
		f, err := os.Create(c.SamplesOut)
		if err != nil {
			return fmt.Errorf("-samples-out: %w", err)
		}
		return f.Close()
	}
	return nil
}

// sample is what the sampler saw at one moment: the traffic's totals and
// rates since the previous sample, the latency of the deliveries in
// between, and the broker's memory and metrics, summed over its nodes.
type sample struct {
	Seconds      float64    `json:"seconds"` // since the sampler started
	Totals       soakTotals `json:"totals"`
	PublishRate  float64    `json:"publish_rate"`
	DeliveryRate float64    `json:"delivery_rate"`
	Latency      latency    `json:"latency_us"`
	// RSSKiB is the sum over -pid's processes, 0 without -pid.
	RSSKiB int64   `json:"rss_kib,omitempty"`
	Nodes  []probe `json:"nodes,omitempty"`
	brokerFigures
}

// minuteRow is one minute of the run: its deliveries' latency.
type minuteRow struct {
	Minute  int     `json:"minute"` // 1 for the first
	Latency latency `json:"latency_us"`
}

// sampler watches a soak: every -sample-every it reads the traffic's
// totals and latency and the broker's RSS and metrics, prints a row, and
// keeps the sample for the report. Once a minute it prints that minute's
// latency.
type sampler struct {
	tr      soakTraffic
	brokers *brokerProbe
	every   time.Duration
	minute  time.Duration // a minute, shorter in tests
	settle  time.Duration
	maxRSS  float64
	maxGor  float64
	outPath string
	began   time.Time
	// rssAsked and metricsAsked: the command line named the broker's
	// -pid and -metrics-url, so their drift must be measured.
	rssAsked, metricsAsked bool

	mu      sync.Mutex
	samples []sample
	minutes []minuteRow
	minHist *histogram // the current minute's deliveries
	last    soakTotals
	lastAt  time.Time
	header  bool
}

// newSampler prepares to watch tr, with the flags of cfg.
func newSampler(cfg *config, tr soakTraffic) *sampler {
	now := time.Now()
	return &sampler{
		tr: tr, brokers: newBrokerProbe(cfg), every: cfg.SampleEvery, minute: time.Minute,
		settle: cfg.Settle, maxRSS: cfg.MaxRSSDrift, maxGor: cfg.MaxGoroutineDrift, outPath: cfg.SamplesOut,
		began: now, lastAt: now, minHist: newHistogram(),
		rssAsked: len(cfg.PIDs) > 0, metricsAsked: cfg.MetricsURL != "",
	}
}

// run takes a sample every s.every and prints it on out, and a minute's
// row at the end of each minute, until ctx ends.
func (s *sampler) run(ctx context.Context, out io.Writer) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.take(ctx, now, out)
		}
	}
}

// take records one sample at now and prints its row, preceded by the
// row of a minute that ended since the previous sample. The broker is
// read first: a reading that the end of ctx cut short is no sample, and
// the traffic's latencies are left for finish.
func (s *sampler) take(ctx context.Context, now time.Time, out io.Writer) {
	bf := s.brokers.read(ctx)
	if ctx.Err() != nil {
		return
	}
	t := s.tr.totals()
	h := s.tr.latencies()
	s.mu.Lock()
	defer s.mu.Unlock()
	var sb strings.Builder
	if !s.header {
		sb.WriteString(sampleHeader)
		s.header = true
	}
	elapsed := now.Sub(s.began)
	if done := int(elapsed / s.minute); done > len(s.minutes) {
		row := minuteRow{Minute: len(s.minutes) + 1, Latency: latencyOf(s.minHist)}
		s.minutes = append(s.minutes, row)
		s.minHist = newHistogram()
		row.write(&sb)
	}
	s.minHist.merge(h)
	secs := now.Sub(s.lastAt)
	smp := sample{
		Seconds: elapsed.Seconds(), Totals: t, Latency: latencyOf(h),
		PublishRate:  perSecond(t.Published-s.last.Published, int64(secs)),
		DeliveryRate: perSecond(t.Delivered-s.last.Delivered, int64(secs)),
		RSSKiB:       bf.rss, Nodes: bf.nodes, brokerFigures: bf.sum,
	}
	s.samples = append(s.samples, smp)
	s.last, s.lastAt = t, now
	smp.write(&sb)
	_, _ = io.WriteString(out, sb.String())
}

// sampleHeader names the columns of sample.write.
const sampleHeader = "    time   publ/s    deliv/s     p50      p99    p99.9      max   conns  overdue  dups  redeliv  errs  reconn   rss MiB  heap MiB  gorout  b.conns  dropped  slowcut\n"

// write prints the sample as one row under sampleHeader.
func (smp *sample) write(sb *strings.Builder) {
	t, l := &smp.Totals, &smp.Latency
	fmt.Fprintf(sb, "%7.1fs %8s %10s %7s %8s %8s %8s %7d %8d %5d %8d %5d %7d %9s %9s %7s %8s %8s %8s\n",
		smp.Seconds, count(uint64(smp.PublishRate)), count(uint64(smp.DeliveryRate)),
		humanLatency(l.P50), humanLatency(l.P99), humanLatency(l.P999), humanLatency(l.Max),
		t.Conns, t.Overdue, t.Duplicated, t.Redelivered, t.Errors, t.Reconnects,
		orDash(smp.RSSKiB > 0, float64(smp.RSSKiB)/1024), orDash(smp.Scraped, smp.HeapInuse/(1<<20)),
		orDash(smp.Scraped, smp.Goroutines), orDash(smp.Scraped, smp.Connections),
		orDash(smp.Scraped, smp.Dropped), orDash(smp.Scraped, smp.SlowCuts))
}

// write prints the minute's latency as one row between the samples.
func (m *minuteRow) write(sb *strings.Builder) {
	l := &m.Latency
	fmt.Fprintf(sb, "-- minute %d: p50 %s  p99 %s  p99.9 %s  max %s  (%s deliveries)\n", m.Minute,
		humanLatency(l.P50), humanLatency(l.P99), humanLatency(l.P999), humanLatency(l.Max), count(l.Samples))
}

// orDash formats v, or a dash when it was not measured: a whole number
// or one from 100 on without decimals, a smaller one with one.
func orDash(measured bool, v float64) string {
	if !measured {
		return "-"
	}
	if v >= 100 || v == math.Trunc(v) {
		return count(uint64(v + 0.5))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
